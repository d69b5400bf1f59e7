"""setup.py — build steps of the lmgraph Python package (metadata is in pyproject.toml).

At build time: lmgraph/lmg_pb2.py from ../proto/lmg.proto with protoc (Debian:
protobuf-compiler) or grpcio-tools when installed, lmgraph/_ops.py from ../ops/ops.def by
gen_ops.py, and a copy of ../build/liblmg.so when `ninja` has built it."""
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_protoc(proto, out_dir):
    args = ["-I", os.path.dirname(proto), f"--python_out={out_dir}", proto]
    protoc = shutil.which("protoc")
    if protoc:
        subprocess.check_call([protoc] + args)
        return
    try:
        from grpc_tools import protoc as grpc_protoc
    except ImportError:
        sys.exit("lmgraph: generating lmg_pb2.py needs protoc (apt-get install "
                 "protobuf-compiler) or grpcio-tools (pip install grpcio-tools)")
    if grpc_protoc.main(["protoc"] + args) != 0:
        sys.exit(f"lmgraph: protoc failed on {proto}")


class BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "lmgraph")
        os.makedirs(pkg, exist_ok=True)
        for need in ("proto/lmg.proto", "ops/ops.def"):
            if not os.path.exists(os.path.join(ROOT, need)):
                sys.exit(f"lmgraph: {need} not found beside python/: build from the lmgraph tree")
        run_protoc(os.path.join(ROOT, "proto", "lmg.proto"), pkg)
        subprocess.check_call([sys.executable, os.path.join(HERE, "gen_ops.py"),
                               os.path.join(ROOT, "ops", "ops.def"),
                               os.path.join(pkg, "_ops.py")])
        built = os.path.join(ROOT, "build", "liblmg.so.0")
        if os.path.exists(built):
            shutil.copy(os.path.realpath(built), os.path.join(pkg, "liblmg.so.0"))


setup(cmdclass={"build_py": BuildPy}, package_data={"lmgraph": ["liblmg.so.0"]})
