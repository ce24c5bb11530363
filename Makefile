# SPDX-License-Identifier: MIT
# A thin wrapper: CMake is the build. The two commands a newcomer needs:
#   make demo   install what is missing, build, run chimed on a throwaway database
#   make test   install what is missing, build, run the whole ctest suite
#               with gcc, then again with clang under ASan+UBSan (both -Werror)
BUILD ?= build
ASAN_BUILD ?= build-asan-clang
ASAN_CC ?= clang
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test test-asan demo clean package

all: build

deps:
	@tests/harness/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCHIME_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite built with gcc, then the whole suite again built with
# clang under ASan+UBSan: both compilers' warnings as errors, and the
# sanitizers, in one run. Under ASan the two oracle tests run a tenth of
# their random expressions (CHIME_ORACLE_SCALE), or they would take over
# ten minutes each.
test: build
	cd $(BUILD) && ctest --output-on-failure -j 2
	$(MAKE) test-asan

# Its own build directory: CMake keeps the compiler of a directory's first
# configure, so a gcc-configured directory cannot be switched to clang.
test-asan: deps
	CC=$(ASAN_CC) cmake -S . -B $(ASAN_BUILD) -DCHIME_WERROR=ON -DCHIME_BENCH=OFF \
		-DCHIME_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 CHIME_ORACLE_SCALE=10 \
		ctest --output-on-failure -j 2

demo: build
	@tests/harness/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(PKG_BUILD)

# The Debian package, in its own build tree (prefix /usr, Debian's
# hardening flags): $(PKG_BUILD)/chime_VERSION_amd64.deb. See
# systemd/CMakeLists.txt for why CPack.
PKG_BUILD ?= build-deb
BUILDFLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
package: deps
	CFLAGS="$$($(BUILDFLAGS) CFLAGS) $$($(BUILDFLAGS) CPPFLAGS)" LDFLAGS="$$($(BUILDFLAGS) LDFLAGS)" \
		cmake -S . -B $(PKG_BUILD) -DCMAKE_INSTALL_PREFIX=/usr -DCHIME_DEB=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DCHIME_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(PKG_BUILD) -j $(JOBS)
	cd $(PKG_BUILD) && cpack -G DEB
