// LeakSanitizer hook for the test executables (no effect without -DSPANRING_ASAN=ON).
// shm::Mapping::leak() deliberately never frees the mapping's handle: shutdown() cannot unmap
// a segment that other threads may still be writing into. LSan reports that handle as a leak
// at exit; this suppression covers exactly that function and nothing else.
extern "C" const char* __lsan_default_suppressions();
extern "C" const char* __lsan_default_suppressions() { return "leak:spanring::shm::Mapping::leak\n"; }
