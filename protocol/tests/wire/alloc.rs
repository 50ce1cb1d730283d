//! The test binary's one global allocator: it counts, per thread and only while a decode
//! is being measured, the bytes allocated and not yet freed, their peak, and the largest
//! single allocation. Both memory checks (`robust_memory`'s peak of live bytes and
//! `robust_spu`'s largest reservation) read it; a binary can have only one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct TrackingAllocator;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// `delta` live bytes, from an allocation (or reallocation to) `size` bytes if not 0.
fn note(delta: isize, size: usize) {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = TRACKING.try_with(|tracking| {
        if tracking.get() {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + delta);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize), 0);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize, new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

/// What the allocator saw while one closure ran on this thread.
pub struct Measured {
    /// The most bytes held at once (net of what the closure freed).
    pub peak: usize,
    /// The largest single allocation or reallocation.
    pub largest: usize,
}

/// Run `f` on this thread and measure its allocations.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Measured) {
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    LARGEST.with(|largest| largest.set(0));
    TRACKING.with(|tracking| tracking.set(true));
    let result = f();
    TRACKING.with(|tracking| tracking.set(false));
    let measured = Measured {
        peak: PEAK.with(Cell::get).max(0) as usize,
        largest: LARGEST.with(Cell::get),
    };
    (result, measured)
}
