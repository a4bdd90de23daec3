#!/usr/bin/env python3
"""Compile every torch-side source of an existing build, syntax only, against another PyTorch's headers in C++20.

PyTorch 2.14's headers require C++20 (CMakeLists.txt switches to it for Torch >= 2.14); CI builds against 2.13 in
C++17. This checks, without a second full build, that the same sources also compile the other way:

    make build                                  # build/compile_commands.json, against the venv's torch
    python3 scripts/check-torch-cxx20.py TORCH_DIR [BUILD_DIR]

TORCH_DIR is an installed torch package (e.g. .cache/torch-2.14/lib/python3.11/site-packages/torch from
`pip install --no-deps --target ... torch==2.14.1`); `make check-torch-cxx20` does both. Files whose headers need a
CUDA toolkit's libraries (the CUDA glue: cusparse.h) are skipped unless they compile. Exit 1 on any error.
"""
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys


def commands(build_dir: str, torch_dir: str):
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    for e in entries:
        args = shlex.split(e["command"])
        includes = [a for a in args if "/site-packages/torch/include" in a]
        if not includes:
            continue
        built_against = includes[0][: includes[0].index("/site-packages/torch") + len("/site-packages/torch")]
        built_against = built_against[built_against.index("/"):]
        out, skip_next = [args[0], "-fsyntax-only"], False
        for a in args[1:]:
            if skip_next:
                skip_next = False
            elif a in ("-o", "-include"):  # the object file; CMake's precompiled header (made for C++17)
                skip_next = True
            elif a != "-Winvalid-pch":
                a = a.replace("-std=c++17", "-std=c++20").replace("-std=gnu++17", "-std=c++20")
                out.append(a.replace(built_against, torch_dir))
        yield e["directory"], e["file"], out


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    torch_dir = os.path.abspath(sys.argv[1])
    build_dir = sys.argv[2] if len(sys.argv) > 2 else "build"
    jobs = list(commands(build_dir, torch_dir))
    if not jobs:
        print(f"no torch-side sources in {build_dir}/compile_commands.json (configure with the torch layer first)")
        return 2

    def run(job):
        directory, source, argv = job
        r = subprocess.run(argv, cwd=directory, capture_output=True, text=True)
        return source, r.returncode, r.stderr

    failed = skipped = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for source, rc, err in pool.map(run, jobs):
            if rc == 0:
                continue
            if "cusparse.h: No such file" in err:
                skipped += 1
                print(f"skipped (needs the CUDA toolkit's cusparse.h): {source}")
                continue
            failed += 1
            print(f"FAILED {source}\n{err[:4000]}")
    print(f"{len(jobs) - failed - skipped} of {len(jobs)} torch-side sources compile in C++20 against {torch_dir}; "
          f"{failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
