//! C handles: an opaque struct around the handle's state, with a guard that
//! lets one call at a time in. A callback that calls back into its own
//! handle (or a second thread using it at the same moment) gets
//! MAILTLS_RESULT_HANDLE_BUSY instead of a second `&mut` to the state,
//! which would be undefined behaviour.

use std::cell::UnsafeCell;
use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicBool, Ordering};

use super::detail::{ErrorDetail, FfiResult, copy_out};
use super::guard::guard;
use super::result::{
    MAILTLS_RESULT_HANDLE_BUSY, MAILTLS_RESULT_NULL_ARGUMENT, MAILTLS_RESULT_OK, MAILTLS_RESULT_PANIC, mailtls_result,
};

/// A handle's state, entered by one call at a time.
pub(crate) struct Guarded<S> {
    busy: AtomicBool,
    state: UnsafeCell<S>,
}

// SAFETY: the state is reached only through `enter`, which lets one caller
// in at a time, from whatever thread; the state itself is Send.
unsafe impl<S: Send> Sync for Guarded<S> {}

impl<S> Guarded<S> {
    pub(crate) fn new(state: S) -> Self {
        Guarded { busy: AtomicBool::new(false), state: UnsafeCell::new(state) }
    }

    /// The state for the length of one call; `None` while another call is
    /// inside.
    fn enter(&self) -> Option<Entered<'_, S>> {
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        Some(Entered { guarded: self })
    }
}

struct Entered<'a, S> {
    guarded: &'a Guarded<S>,
}

impl<S> Entered<'_, S> {
    fn state(&mut self) -> &mut S {
        // SAFETY: `enter` let only this caller in, until `drop`.
        unsafe { &mut *self.guarded.state.get() }
    }
}

impl<S> Drop for Entered<'_, S> {
    fn drop(&mut self) {
        self.guarded.busy.store(false, Ordering::Release);
    }
}

/// A handle's state keeps the detail of its last failure.
pub(crate) trait HandleState {
    fn detail(&mut self) -> &mut ErrorDetail;
    fn detail_ref(&self) -> &ErrorDetail;
}

/// A C handle type: an opaque struct around a [`Guarded`] state.
pub(crate) trait CHandle: Sized {
    type State: HandleState;
    fn guarded(&self) -> &Guarded<Self::State>;
    fn from_state(state: Self::State) -> Self;
}

/// Declare `$handle` (a C handle type) as the guarded `$state`.
macro_rules! c_handle {
    ($handle:ident, $state:ty) => {
        impl $crate::ffi::handle::CHandle for $handle {
            type State = $state;
            fn guarded(&self) -> &$crate::ffi::handle::Guarded<$state> {
                &self.0
            }
            fn from_state(state: $state) -> Self {
                $handle($crate::ffi::handle::Guarded::new(state))
            }
        }
    };
}
pub(crate) use c_handle;

/// Run `body` on the state of the handle behind `ptr`: NULL check, one call
/// at a time, panic guard, and the failure recorded on the handle.
pub(crate) fn with_handle<H: CHandle>(ptr: *mut H, body: impl FnOnce(&mut H::State) -> FfiResult) -> mailtls_result {
    guard(|| {
        // SAFETY: NULL or a live handle from the matching `_new` (the
        // caller's contract); only a shared reference is made.
        let Some(handle) = (unsafe { ptr.as_ref() }) else {
            return MAILTLS_RESULT_NULL_ARGUMENT;
        };
        let Some(mut entered) = handle.guarded().enter() else {
            return MAILTLS_RESULT_HANDLE_BUSY;
        };
        let state = entered.state();
        *state.detail() = ErrorDetail::default();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut *state))) {
            Ok(Ok(())) => MAILTLS_RESULT_OK,
            Ok(Err(failure)) => {
                state.detail().record(&failure);
                failure.code()
            }
            Err(_) => {
                state.detail().record_panic();
                MAILTLS_RESULT_PANIC
            }
        }
    })
}

/// Read from the state of the handle behind `ptr` (for accessors, which
/// run in their own panic guard): `None` when `ptr` is NULL or a call on
/// the handle is under way.
pub(crate) fn read_handle<H: CHandle, T>(ptr: *const H, body: impl FnOnce(&H::State) -> T) -> Option<T> {
    // SAFETY: NULL or a live handle (the caller's contract).
    let handle = unsafe { ptr.as_ref() }?;
    let mut entered = handle.guarded().enter()?;
    Some(body(entered.state()))
}

/// Copy one of the detail strings of a handle out (the `last_*` accessors),
/// by the header's text copy rules.
pub(crate) fn copy_detail<H: CHandle>(
    ptr: *const H,
    pick: fn(&ErrorDetail) -> &CStr,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    guard(|| {
        if ptr.is_null() {
            return MAILTLS_RESULT_NULL_ARGUMENT;
        }
        let copied = read_handle(ptr, |state| {
            // SAFETY: the caller's buffer contract, passed on unchanged.
            unsafe { copy_out(pick(state.detail_ref()), buf, buf_len, len_out) }
        });
        copied.unwrap_or(MAILTLS_RESULT_HANDLE_BUSY)
    })
}

/// Box a new handle for C; NULL if `make` gives none or panicked.
pub(crate) fn new_handle<H: CHandle>(make: impl FnOnce() -> Option<H::State>) -> *mut H {
    guard(|| make().map_or(std::ptr::null_mut(), |state| Box::into_raw(Box::new(H::from_state(state)))))
}

/// Free a handle; NULL is ignored, and so is a call from inside one of the
/// handle's own callbacks (freeing it under the running call would leave
/// that call on freed memory).
pub(crate) fn free_handle<H: CHandle>(ptr: *mut H) {
    // SAFETY: NULL or a live handle (the caller's contract).
    let busy = unsafe { ptr.as_ref() }.is_some_and(|h| h.guarded().busy.load(Ordering::Acquire));
    if !busy {
        free_boxed(ptr);
    }
}

/// Free what the library boxed for C (a handle or a result object); NULL
/// is ignored.
pub(crate) fn free_boxed<T>(ptr: *mut T) {
    guard(|| {
        if !ptr.is_null() {
            // SAFETY: from Box::into_raw, freed once (the caller's contract).
            drop(unsafe { Box::from_raw(ptr) });
        }
    })
}
