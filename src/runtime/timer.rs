//! A worker's timers: an ordered map keyed by (deadline, green thread id).
//!
//! A green thread waits on at most one timer at a time, so the key is unique, and the thread
//! itself can remove its entry when it is woken early.

use super::task::{Task, NOTIFIED, PARKED};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub(crate) enum Entry {
    /// A `park_timeout`: wake the task only if it is still parked. Holds a count of its own.
    Park(Arc<Task>),
    /// A `sleep`: wake the task unless a kill already did. Holds a count of its own.
    Sleep(Arc<Task>),
}

#[derive(Default)]
pub(crate) struct Timers {
    entries: BTreeMap<(Instant, u64), Entry>,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, entry: Entry) {
        let id = match &entry {
            Entry::Park(t) | Entry::Sleep(t) => t.id.as_u64().get(),
        };
        self.entries.insert((deadline, id), entry);
    }

    pub(crate) fn remove(&mut self, deadline: Instant, task: &Task) {
        self.entries.remove(&(deadline, task.id.as_u64().get()));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .first_key_value()
            .map(|(&(deadline, _), _)| deadline)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes the timers due at `now` and calls `wake` with each task to make ready, handing
    /// it the task's own count (see `task`'s module docs).
    pub(crate) fn fire(&mut self, now: Instant, mut wake: impl FnMut(Arc<Task>)) {
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Entry::Sleep(task) => {
                    if super::park::end_sleep(&task) {
                        // SAFETY: as in `park::unpark`: we won the one wake-up of this sleep.
                        wake(unsafe { Arc::from_raw(Arc::as_ptr(&task)) });
                    }
                }
                Entry::Park(task) => {
                    // Still parked: the timeout ends the park, and we take back the count the
                    // green thread left behind, as `unpark` would. Otherwise an unpark already
                    // did (the state is NOTIFIED) and there is nothing to do.
                    if task
                        .park_state
                        .compare_exchange(PARKED, NOTIFIED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        // SAFETY: as in `park::unpark`: we won the one wake-up of this park.
                        wake(unsafe { Arc::from_raw(Arc::as_ptr(&task)) });
                    }
                }
            }
        }
    }
}
