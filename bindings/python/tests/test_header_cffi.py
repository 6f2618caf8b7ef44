"""include/mailtls.h is parseable by cffi's cdef(), and matches the library
and this binding.

cffi's cdef() takes declarations only: it cannot parse preprocessor
conditionals or #include. Before feeding the header to it we remove
(and only remove):

1. the ``#include`` lines (cffi knows the standard int types itself),
2. the include guard (``#ifndef MAILTLS_H`` / ``#define MAILTLS_H`` and the
   final ``#endif``),
3. the ``#ifdef __cplusplus ... #endif`` blocks (the ``extern "C" {`` and
   its closing ``}``),
4. the ``#define``s of a string literal (MAILTLS_VERSION_STRING): cdef()
   takes integer macros only; they are checked on their own below.

Everything else, the other ``#define`` constants included, goes to cdef()
as is: every one of them is an integer literal (UINT64_MAX would not be).
"""

from __future__ import annotations

import os
import re

import cffi  # pip install cffi
import pytest

from conftest import REPO

HEADER = REPO / "include" / "mailtls.h"
STRING_MACRO = re.compile(r'#define (MAILTLS_\w+) "([^"\\]*)"')


def strip_preprocessor(text: str) -> str:
    """The header without #include lines, include guard and __cplusplus
    blocks (see the module docstring)."""
    out = []
    in_cplusplus = False
    for line in text.splitlines():
        s = line.strip()
        if in_cplusplus:
            if s.startswith("#endif"):
                in_cplusplus = False
            continue
        if s.startswith("#ifdef __cplusplus"):
            in_cplusplus = True
            continue
        if s.startswith("#include") or STRING_MACRO.fullmatch(s):
            continue
        if s in ("#ifndef MAILTLS_H", "#define MAILTLS_H") or re.fullmatch(
            r"#endif\s*/\*\s*MAILTLS_H\s*\*/", s
        ):
            continue
        out.append(line)
    stripped = "\n".join(out)
    assert "#if" not in stripped and "#endif" not in stripped, "unexpected conditional left"
    return stripped


def parseable_header() -> str:
    return strip_preprocessor(HEADER.read_text())


@pytest.fixture(scope="module")
def ffi():
    ffi = cffi.FFI()
    ffi.cdef(parseable_header())
    return ffi


@pytest.fixture(scope="module")
def lib(ffi):
    path = os.environ.get("MAILTLS_LIBRARY")
    assert path, "set MAILTLS_LIBRARY to the path of libmailtls.so"
    return ffi.dlopen(path)


def test_header_parses_and_declares_the_api(ffi, lib):
    assert ffi.typeof(lib.mailtls_pop3_retr) is ffi.typeof(
        "mailtls_result(*)(mailtls_pop3 *, uint32_t, mailtls_data_callback, void *)"
    )
    assert ffi.typeof(lib.mailtls_pop3_new) is ffi.typeof(
        "mailtls_pop3 *(*)(const mailtls_options *)"
    )
    assert ffi.typeof(lib.mailtls_pop3_retr_many) is ffi.typeof(
        "mailtls_result(*)(mailtls_pop3 *, const uint32_t *, size_t,"
        " mailtls_message_callback, void *)"
    )
    assert ffi.typeof("mailtls_result") is ffi.typeof("uint32_t")
    assert ffi.typeof("mailtls_trace_callback") is ffi.typeof(
        "void(*)(void *, uint32_t, const uint8_t *, size_t)"
    )
    assert ffi.typeof("mailtls_data_callback") is ffi.typeof(
        "int(*)(void *, const uint8_t *, size_t)"
    )
    # Handles are opaque.
    for name in ("mailtls_pop3", "mailtls_options", "mailtls_buffer", "mailtls_pop3_listing"):
        with pytest.raises(ValueError):  # incomplete type
            ffi.sizeof(name)


def test_header_constants_match_the_binding(lib):
    import mailtls
    from mailtls import _lib

    for code in mailtls.Result:
        assert getattr(lib, f"MAILTLS_RESULT_{code.name}") == code.value, code
    assert lib.MAILTLS_SECURITY_TLS == _lib.SECURITY_TLS
    assert lib.MAILTLS_SECURITY_NONE == _lib.SECURITY_NONE
    assert lib.MAILTLS_TLS_1_3 == _lib.TLS_1_3
    assert lib.MAILTLS_TRACE_REPLY == _lib.TRACE_REPLY
    assert lib.MAILTLS_OCTETS_UNKNOWN == _lib.OCTETS_UNKNOWN == 2**64 - 1
    header_version = (lib.MAILTLS_VERSION_MAJOR, lib.MAILTLS_VERSION_MINOR,
                      lib.MAILTLS_VERSION_PATCH)
    assert header_version == (_lib.VERSION_MAJOR, _lib.VERSION_MINOR, _lib.VERSION_PATCH)
    assert mailtls.library_version() == "{}.{}.{}".format(*header_version)


def test_every_result_code_of_the_header_is_known_to_the_binding():
    import mailtls

    header = dict(
        (name, int(value))
        for name, value in re.findall(r"^#define MAILTLS_RESULT_(\w+) (\d+)$",
                                      HEADER.read_text(), flags=re.M)
    )
    assert header == {code.name: code.value for code in mailtls.Result}


def _same_type(ffi, ctype, cffi_type) -> bool:
    """Whether a ctypes declaration fits the header's C type."""
    import ctypes

    if cffi_type.kind == "void":
        return ctype is None
    if cffi_type.kind in ("pointer", "function"):  # data or function pointer
        return ctype in (ctypes.c_void_p, ctypes.c_char_p) or issubclass(
            ctype, (ctypes._Pointer, ctypes._CFuncPtr)
        )
    primitives = {
        "uint16_t": ctypes.c_uint16,
        "uint32_t": ctypes.c_uint32,
        "uint64_t": ctypes.c_uint64,
        "int64_t": ctypes.c_int64,
        "size_t": ctypes.c_size_t,
        "_Bool": ctypes.c_bool,
        "int": ctypes.c_int,
    }
    return primitives.get(cffi_type.cname) is ctype


def test_binding_prototypes_match_the_header(ffi, lib):
    """Every function the binding declares exists in the header with the
    same result and parameter types (pointers as pointers, integers of the
    same width and signedness)."""
    import ctypes

    from mailtls import _lib

    for name, (restype, argtypes) in _lib._PROTOTYPES.items():
        ctype = ffi.typeof(getattr(lib, name))
        assert _same_type(ffi, restype, ctype.result), name
        assert len(ctype.args) == len(argtypes), name
        for i, (ours, theirs) in enumerate(zip(argtypes, ctype.args)):
            assert _same_type(ffi, ours, theirs), f"{name} parameter {i}: {theirs.cname}"
        # Callback types: same parameters too.
        for ours, theirs in zip(argtypes, ctype.args):
            if theirs.kind == "function":
                assert issubclass(ours, ctypes._CFuncPtr), name
                assert _same_type(ffi, ours._restype_, theirs.result), name
                assert len(ours._argtypes_) == len(theirs.args), name
                for a, b in zip(ours._argtypes_, theirs.args):
                    assert _same_type(ffi, a, b), f"{name} callback: {b.cname}"


def test_version_string_macro_is_the_library_version(ffi, lib):
    strings = dict(STRING_MACRO.findall(HEADER.read_text()))
    numbers = (lib.MAILTLS_VERSION_MAJOR, lib.MAILTLS_VERSION_MINOR, lib.MAILTLS_VERSION_PATCH)
    version = ".".join(map(str, numbers))
    assert strings == {"MAILTLS_VERSION_STRING": version}
    assert ffi.string(lib.mailtls_version()).decode() == version


def test_cffi_calls_the_library(ffi, lib):
    assert ffi.string(lib.mailtls_version()) == b"0.1.0"
    assert ffi.string(lib.mailtls_result_str(lib.MAILTLS_RESULT_CANCELLED))
    opts = lib.mailtls_options_new()
    try:
        assert lib.mailtls_options_set_security(opts, 42) == lib.MAILTLS_RESULT_INVALID_ARGUMENT
        buf = ffi.new("char[]", 200)
        n = ffi.new("size_t *")
        assert lib.mailtls_options_last_error(opts, buf, 200, n) == lib.MAILTLS_RESULT_OK
        assert b"security" in ffi.string(buf)
    finally:
        lib.mailtls_options_free(opts)


def test_unknown_size_constants_are_all_ones(lib):
    assert lib.MAILTLS_OCTETS_UNKNOWN == lib.MAILTLS_SIZE_UNKNOWN == 2**64 - 1
