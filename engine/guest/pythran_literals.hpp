// Pythran str literals built once, before ready, instead of on every call.
//
// Pythran turns every Python str literal into pythonic::types::str("..."),
// which allocates a shared buffer, strlen()s and copies the text each time
// it is evaluated: most of a small handler's guest instructions (and a
// one-character one, pythonic::types::str(pythonic::types::chr('c')), goes
// through an ostringstream: ~2,000 instructions). The build
// (engine/literals.py) rewrites each of those expressions in the generated
// C++ into ::mtd_literals::lN.get(), where lN is a namespace-scope
// mtd_pythran::literal built by static initialisation, i.e. before main()
// and so before MTD_ECALL_READY: every request's fork finds it built.
//
// A literal's buffer is shared by every evaluation, in every request, and
// Pythran mutates strs in place (`s += x` appends to the buffer, and every
// copy of `s` shares that buffer). So that nothing can tell a shared literal
// from the fresh buffer Pythran used to build each time, the str buffer's
// reference (the specialisation of utils::shared_ref<std::string> below)
// treats a literal's buffer, marked by a reference count of 0, as a value
// no one owns yet:
//   - reading it (any const access) is free and writes nothing;
//   - the first copy of a str holding it gives that str a fresh buffer of
//     its own, which the copy then shares, exactly as the buffer Pythran
//     built at evaluation would have been shared;
//   - the first mutating access (non-const deref: +=, resize, chars(), ...)
//     of a str holding it gives that str a fresh buffer first;
//   - destroying or moving one does nothing to it.
// A literal's buffer is therefore never written after initialisation (not
// even a reference count), and every request sees it as built. A mutation
// through a const path, which would write the shared buffer, does not
// compile: the const accessors return const references.
//
// Everything else behaves as Pythran's own shared_ref (pythonic/include/
// utils/shared_ref.hpp, which this copies for std::string).
//
// This header must come before any Pythran header that uses
// shared_ref<std::string> (the shim includes it first, and so does the
// precompiled header).
#ifndef MTD_PYTHRAN_LITERALS_HPP
#define MTD_PYTHRAN_LITERALS_HPP

#define PY_MAJOR_VERSION 3
#undef ENABLE_PYTHON_MODULE
#include <pythonic/core.hpp>
#include <pythonic/include/utils/shared_ref.hpp>
#include <pythonic/utils/allocate.hpp>

#include <cstddef>
#include <new>
#include <string>
#include <utility>

#ifdef PYTHONIC_INCLUDE_TYPES_STR_HPP
#error "pythran_literals.hpp must be included before Pythran's str"
#endif
#ifdef THREAD_SAFE_REF_COUNT
#error "pythran_literals.hpp assumes a single-threaded guest"
#endif

namespace mtd_pythran {
class literal;
}

PYTHONIC_NS_BEGIN
namespace types
{
  class str;
}
namespace builtins
{
  // id() of a str is its buffer's address. Each evaluation of a literal
  // used to have a buffer of its own, so id() gives a literal's str one
  // before answering (defined in pythran_literal_id.hpp, included where str
  // is complete).
  long id(types::str const &t);
} // namespace builtins
PYTHONIC_NS_END

PYTHONIC_NS_BEGIN
namespace utils
{
  template <>
  class shared_ref<std::string>
  {
    using T = std::string;

  public:
    struct memory {
      T ptr;
      atomic_size_t count;  // 0: a literal's buffer (never freed, never written)
      extern_type foreign;
      template <class... Types>
      memory(Types &&...args) : ptr(std::forward<Types>(args)...), count(1), foreign(nullptr)
      {
      }
    };

  private:
    // mutable: the first copy of a literal moves its source onto a fresh
    // buffer too, and the source may be a const object.
    mutable memory *mem;

    template <class Tp>
    friend class shared_ref;
    friend class ::mtd_pythran::literal;

    // How mtd_pythran::literal hands its buffer to a str: str has no
    // constructor taking a shared_ref, but its (begin, end) template
    // constructor forwards both arguments to this one.
    struct literal_key {
      memory *m;
    };

  public:
    shared_ref(literal_key const &key, literal_key const &) noexcept : mem(key.m)
    {
    }

  private:

    static bool is_literal(memory const *m) noexcept
    {
      return m->count == 0;
    }

    // A fresh buffer with a copy of m's text and the given count.
    static memory *fresh_copy(memory const *m, size_t count)
    {
      memory *p = new (utils::allocate<memory>(1)) memory(m->ptr);
      p->count = count;
      return p;
    }

    // Gives this reference a buffer of its own if it holds a literal's.
    void own() const
    {
      if (mem && is_literal(mem))
        mem = fresh_copy(mem, 1);
    }

  public:
    shared_ref(no_memory const &) noexcept : mem(nullptr)
    {
    }
    shared_ref(no_memory &&) noexcept : mem(nullptr)
    {
    }

    template <class... Types>
    shared_ref(Types &&...args)
        : mem(new (utils::allocate<memory>(1)) memory(std::forward<Types>(args)...))
    {
    }

    shared_ref(shared_ref<T> &&p) noexcept : mem(p.mem)
    {
      p.mem = nullptr;
    }

    // Pythran's copy is noexcept; copying a literal allocates (once), as
    // evaluating the literal did before: failing to is fatal either way.
    shared_ref(shared_ref<T> const &p) noexcept : mem(p.mem)
    {
      if (mem)
        acquire(p);
    }

    shared_ref(shared_ref<T> &p) noexcept : mem(p.mem)
    {
      if (mem)
        acquire(p);
    }

    ~shared_ref() noexcept
    {
      dispose();
    }

    void swap(shared_ref<T> &rhs) noexcept
    {
      using std::swap;
      swap(mem, rhs.mem);
    }

    shared_ref<T> &operator=(shared_ref<T> p) noexcept
    {
      swap(p);
      return *this;
    }

    // Reads: never copy.
    T const &operator*() const noexcept
    {
      return mem->ptr;
    }
    T const *operator->() const noexcept
    {
      return &mem->ptr;
    }
    // Writes (and whatever asks for a mutable string): a buffer of its own first.
    T &operator*()
    {
      own();
      return mem->ptr;
    }
    T *operator->()
    {
      own();
      return &mem->ptr;
    }

    bool operator!=(shared_ref<T> const &other) const noexcept
    {
      return mem != other.mem;
    }
    bool operator==(shared_ref<T> const &other) const noexcept
    {
      return mem == other.mem;
    }

    void external(extern_type obj_ptr)
    {
      own();
      mem->foreign = obj_ptr;
    }
    extern_type get_foreign()
    {
      return mem->foreign;
    }
    bool is_foreign() const
    {
      return mem && mem->foreign;
    }

  private:
    void dispose() noexcept
    {
      if (mem && !is_literal(mem) && --mem->count == 0) {
        mem->~memory();
        utils::deallocate(mem);
        mem = nullptr;
      }
    }

    void acquire(shared_ref<T> const &source) noexcept
    {
      if (is_literal(mem)) {
        mem = fresh_copy(mem, 2);
        source.mem = mem;
      } else {
        ++mem->count;
      }
    }
  };
} // namespace utils
PYTHONIC_NS_END

namespace mtd_pythran {
// A str literal's buffer, built once (by static initialisation, before
// ready) from the same expression Pythran's str constructor would have used.
class literal {
  using ref = ::pythonic::utils::shared_ref<std::string>;
  ref::memory mem_;

public:
  explicit literal(const char *s) : mem_(s)
  {
    mem_.count = 0;
  }
  // str(chr(c)): the one character c (what Pythran's ostringstream gives).
  literal(size_t n, char c) : mem_(n, c)
  {
    mem_.count = 0;
  }
  literal(const literal &) = delete;
  literal &operator=(const literal &) = delete;

  // A str holding this literal's buffer: no allocation, no write.
  template <class Str = ::pythonic::types::str>
  Str get() const
  {
    const ref::literal_key key{const_cast<ref::memory *>(&mem_)};
    return Str(key, key);
  }
};
}  // namespace mtd_pythran

#endif
