#!/usr/bin/env bash
# stage.sh BIN_DIR OUT_DIR BINARY... -- lays out a runtime image root under OUT_DIR: the named
# binaries in usr/bin and every shared library they load in usr/lib/llmq (found with ldd),
# except glibc's own (the distroless base has them) and the NVIDIA driver libraries (the
# NVIDIA container runtime mounts those from the host). The Dockerfiles run it in their
# build stage; tests/deploy runs it on the CI build to check the result. No shell is needed
# in the runtime image: the binaries run with LD_LIBRARY_PATH=/usr/lib/llmq.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: stage.sh BIN_DIR OUT_DIR BINARY..." >&2; exit 2; }
bin=$1 out=$2; shift 2
mkdir -p "$out/usr/bin" "$out/usr/lib/llmq"
for name in "$@"; do
  [ -x "$bin/$name" ] || { echo "stage.sh: $bin/$name missing: build first" >&2; exit 1; }
  install -m 0755 "$bin/$name" "$out/usr/bin/$name"
  ldd "$bin/$name" | while read -r soname arrow path _; do
    case "$soname" in
      linux-vdso.so.*|/lib*/ld-linux*|ld-linux*) continue ;;
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*) continue ;;
      libcuda.so.*|libnvidia-*|libnvcuvid.so.*) continue ;;   # host driver, mounted at run time
    esac
    if [ "$arrow" != "=>" ] || [ "$path" = "not" ]; then
      echo "stage.sh: $name needs $soname, which ldd cannot find" >&2; exit 1
    fi
    cp -L "$path" "$out/usr/lib/llmq/$soname"
  done
done
# Nothing executable but the binaries: no shell, no package manager, no coreutils.
find "$out" -type f -perm -u+x ! -path "$out/usr/bin/*" ! -name '*.so*' -print -quit | grep -q . \
  && { echo "stage.sh: unexpected executable in $out" >&2; exit 1; }
echo "stage.sh: $* -> $out ($(ls "$out/usr/lib/llmq" | wc -l) libraries)"
