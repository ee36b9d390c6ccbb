//! How cl-fetch asks the allocator to hand memory back.
//!
//! With `--dedup` each file's events get buffers of a megabyte or so (its marks, a part of
//! the store), made in one thread and freed in another. glibc serves a block that large from
//! a fresh mapping only until the first is freed; from then on it raises that threshold and
//! serves such blocks from its heaps, which keep freed space for the next block of the same
//! thread's arena. With five threads that is a few MiB of peak RSS held for nothing
//! (BENCHMARKS row j). A fixed threshold keeps blocks of 512 KiB and more on their own
//! mappings, returned to the system when freed; the extra page faults cost about 1 % of a
//! `--dedup` run here. Other allocators (musl's, Windows') need no such advice.

/// Blocks of this size and more get mappings of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const OWN_MAPPING_FROM: libc::c_int = 512 << 10;

/// Keeps large blocks out of the allocator's heaps, so that freeing them lowers RSS.
#[allow(unsafe_code)]
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's allocator, under the allocator's own
    // lock; a refusal (0) leaves the default policy in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM);
    }
}
