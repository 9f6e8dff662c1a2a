"""Builds the extension through the project's CMake build (target spanring_python, which builds
libspanring.so too), then ships libspanring.so.<major> next to the module: the module's RPATH
starts with $ORIGIN, so the installed package needs nothing else. Needs what the CMake build
needs (./scripts/setup.sh). Used by `pip install --no-build-isolation ./python`."""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        configure = ["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DSPANRING_BUILD_TESTS=OFF",
                     "-DSPANRING_BUILD_BENCH=OFF", f"-DPython3_EXECUTABLE={sys.executable}"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        if shutil.which("ccache"):
            configure += ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "spanring_python", "-j", str(os.cpu_count() or 2)])
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(glob.glob(os.path.join(build_dir, "python", "spanring", "_spanring*.so"))[0], target)
        lib = glob.glob(os.path.join(build_dir, "client", "libspanring.so.[0-9]"))[0]  # the soname link
        shutil.copy2(os.path.realpath(lib), os.path.join(os.path.dirname(target), os.path.basename(lib)))


setup(
    packages=["spanring"],
    package_data={"spanring": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("spanring._spanring", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
