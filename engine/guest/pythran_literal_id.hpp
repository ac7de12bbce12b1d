// builtins::id for str, declared in pythran_literals.hpp: a literal's str
// gets a buffer of its own (copying it does that) before its address is
// taken. Included once per program, after Pythran's str is complete: by the
// shim, and by bench_compute's native build of a tenant.
#ifndef MTD_PYTHRAN_LITERAL_ID_HPP
#define MTD_PYTHRAN_LITERAL_ID_HPP

PYTHONIC_NS_BEGIN
namespace builtins
{
  long id(types::str const &t)
  {
    types::str own(t);
    return t.id();
  }
} // namespace builtins
PYTHONIC_NS_END

#endif
