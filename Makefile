# deja: the two commands a user needs are `make run` and `make test`.
BUILD_DIR ?= build
FUZZ_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=

.PHONY: run test deps build unit-tests format-check format fuzz bench clean

run: build
	./$(BUILD_DIR)/deja serve

test: build unit-tests format-check fuzz

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

unit-tests: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

format-check:
	@files=$$(git ls-files '*.h' '*.cc' 2>/dev/null || find include src bench fuzz tests -name '*.h' -o -name '*.cc'); \
	clang-format --dry-run --Werror $$files && echo "format-check: ok"

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

# Coverage-guided fuzzing of the JSON parser and canonicalizer for a bounded time.
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
	  -DDEJA_BUILD_FUZZ=ON -DDEJA_BUILD_TESTS=OFF -DDEJA_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_json
	mkdir -p $(FUZZ_DIR)/corpus
	./$(FUZZ_DIR)/fuzz/fuzz_json -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=5 \
	  $(FUZZ_DIR)/corpus fuzz/seeds/json

bench: build
	bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR)
