#!/usr/bin/env python3
"""Rewrites a .cu file for the CPU emulator (cuda_emu.h), keeping its lines:

  kernel<<<grid, block[, shmem[, stream]]>>>(args);
      -> EMU_LAUNCH(kernel, grid, block, shmem, stream, kernel, args);
  __shared__ T name[...];   -> the same, then EMU_SHARED_DECL(name);
  #pragma unroll            -> (blank)

Usage: preprocess.py IN.cu OUT.cpp
"""
import re
import sys


def fail(msg):
    sys.exit(f"preprocess.py: {msg}")


def skip_ws(s, i):
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def match_close(s, i, open_ch, close_ch):
    """Index just past the bracket closing the one at s[i]."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        elif c in "\"'":
            j = i + 1
            while s[j] != c:
                j += 2 if s[j] == "\\" else 1
            i = j
        i += 1
    fail(f"unbalanced {open_ch}{close_ch}")


def split_top(s):
    """Splits at commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def kernel_start(s, end):
    """Start of the kernel expression ending at `end` (an identifier, maybe
    qualified, maybe with template arguments)."""
    i = end
    while i > 0 and s[i - 1].isspace():
        i -= 1
    if s[i - 1] == ">":  # template arguments: walk back to the matching <
        depth = 0
        while True:
            i -= 1
            if s[i] == ">":
                depth += 1
            elif s[i] == "<":
                depth -= 1
                if depth == 0:
                    break
    while i > 0 and (s[i - 1].isalnum() or s[i - 1] in "_:"):
        i -= 1
    return i


def rewrite_launches(s):
    out, pos = [], 0
    while True:
        at = s.find("<<<", pos)
        if at < 0:
            out.append(s[pos:])
            return "".join(out)
        start = kernel_start(s, at)
        kernel = s[start:at].strip()
        if not re.match(r"^[\w:]+(<.*>)?$", kernel, re.S):
            fail(f"cannot parse the kernel before <<< at offset {at}: {kernel!r}")
        close = s.find(">>>", at)
        config = split_top(s[at + 3 : close])
        if not 2 <= len(config) <= 4:
            fail(f"launch of {kernel} has {len(config)} configuration values")
        while len(config) < 4:
            config.append(" 0")
        p = skip_ws(s, close + 3)
        if s[p] != "(":
            fail(f"no argument list after the launch of {kernel}")
        args_end = match_close(s, p, "(", ")")
        args = s[p + 1 : args_end - 1]
        gap = s[close + 3 : p]  # keep its newlines
        name = re.sub(r"\s+", "", kernel)
        call = f"EMU_LAUNCH({name}, {','.join(config)}, {kernel}"
        call += ("," + args if args.strip() else "") + ")" + "\n" * gap.count("\n")
        out.append(s[pos:start])
        out.append(call)
        pos = args_end


SHARED = re.compile(r"__shared__\s+[^;()]*?\b(\w+)\s*(\[[^\]]*\]\s*)*;")


# a __device__ variable: [static] __device__ TYPE NAME[DIMS][, NAME[DIMS]...];
DEVICE_VAR = re.compile(r"^(\s*)(static\s+)?__device__\s+([\w:]+(?:\s*\*)*)\s+([^;(]*);\s*(//.*|/\*.*\*/)?$")


def rewrite_device_var(line):
    """Definitions of __device__ variables become references to storage from
    the emulator (guard pages after it, as device buffers have)."""
    m = DEVICE_VAR.match(line)
    if not m or "(" in m.group(4):
        return None
    indent, static, typ, decls = m.group(1), m.group(2) or "", m.group(3), m.group(4)
    if "=" in decls:
        fail(f"initialised __device__ variables are not emulated: {line.strip()}")
    out = []
    for d in split_top(decls):
        dm = re.match(r"^\s*(\w+)\s*((?:\[[^\]]*\]\s*)*)$", d)
        if not dm:
            fail(f"cannot parse __device__ declarator {d!r}")
        name, dims = dm.group(1), dm.group(2).strip()
        ref = f"(&{name}){dims}" if dims else f"&{name}"
        out.append(f'{static}{typ} {ref} = ::emu::device_var<{typ}{dims}>("{name}");')
    return indent + " ".join(out) + "\n"


def rewrite_line(line):
    dv = rewrite_device_var(line)
    if dv is not None:
        return dv
    if re.match(r"\s*#\s*pragma\s+unroll", line):
        return "\n"
    if "extern __shared__" in line:
        fail("dynamic shared memory (extern __shared__) is not emulated")
    return SHARED.sub(lambda m: m.group(0) + f" EMU_SHARED_DECL({m.group(1)});", line)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    text = open(src).read()
    text = "".join(rewrite_line(l) for l in text.splitlines(keepends=True))
    text = rewrite_launches(text)
    header = f'#line 1 "{src}"\n'
    with open(dst, "w") as f:
        f.write(header + text)


if __name__ == "__main__":
    main()
