// The Pythran runtime headers nearly every tenant includes, precompiled once
// per toolchain (engine/pch.py) and force-included before the generated
// code: parsing them is most of a tenant's C++ compile time. Anything a
// tenant needs beyond this is still included by the generated code itself.
#define PY_MAJOR_VERSION 3
#undef ENABLE_PYTHON_MODULE
#include "pythran_literals.hpp"  // before Pythran's str: see there
#include <pythonic/core.hpp>
#include <pythonic/python/core.hpp>
#include <pythonic/types/bool.hpp>
#include <pythonic/types/int.hpp>
#include <pythonic/include/types/str.hpp>
#include <pythonic/types/str.hpp>
#include <pythonic/include/types/tuple.hpp>
#include <pythonic/types/tuple.hpp>
#include <pythonic/include/types/dict.hpp>
#include <pythonic/types/dict.hpp>
#include <pythonic/include/types/list.hpp>
#include <pythonic/types/list.hpp>
#include <pythonic/include/builtins/None.hpp>
#include <pythonic/builtins/None.hpp>
#include <pythonic/include/builtins/print.hpp>
#include <pythonic/builtins/print.hpp>
#include <pythonic/include/builtins/str.hpp>
#include <pythonic/builtins/str.hpp>
#include <pythonic/include/builtins/len.hpp>
#include <pythonic/builtins/len.hpp>
#include <pythonic/include/builtins/range.hpp>
#include <pythonic/builtins/range.hpp>
#include <pythonic/include/functools/partial.hpp>
#include <pythonic/functools/partial.hpp>
#include <cstdio>
#include <iostream>
#include <string>
