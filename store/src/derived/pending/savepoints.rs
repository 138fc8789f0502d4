//! Savepoints of an [`Overlay`]: an undo log, so one refused batch takes back only its own
//! changes, and each key copied for it at most once a savepoint.

use super::{Change, Overlay};
use crate::derived::overlay::{Key, TreeId};

/// A key's pending change, and the savepoint (its number) whose undo entries already put
/// back what the key held before it: further changes within that savepoint need no undo
/// entry of their own, so a run changed by every command of a batch is copied for undo
/// once, not once a command. Likewise for appends only, which a cut puts back.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) change: Change,
    pub(super) restorable_in: u64,
    /// The savepoint whose undo entries cut the key's bytes back to before its appends.
    pub(super) appended_in: u64,
}

impl Pending {
    /// A change made in `savepoint`, whose undo entry (if one is kept) restores the key.
    pub(super) fn new(change: Change, savepoint: u64) -> Self {
        Self {
            change,
            restorable_in: savepoint,
            appended_in: 0,
        }
    }
}

/// How to take one change back.
#[derive(Debug)]
pub(super) enum Undo {
    /// Put back the key's earlier pending change (`None`: it had none).
    Restore(Key, Option<Pending>),
    /// Cut the key's pending bytes back to this length (an append).
    Shorten(Key, usize),
}

/// A point an `Overlay` can be rolled back to.
#[derive(Clone, Copy, Debug)]
pub struct Savepoint(usize);

/// The undo log and where savepoints stand.
#[derive(Debug)]
pub(super) struct UndoLog {
    /// How to undo each change, for rollback; `None` when savepoints are not needed.
    entries: Option<Vec<Undo>>,
    /// The current savepoint's number (see [`Pending`]).
    pub(super) current: u64,
    /// Whether changes need undo entries: not from a release until the next savepoint,
    /// since nothing may then be rolled back (a group's positions, placed once decided).
    logging: bool,
}

impl UndoLog {
    /// A log kept (`kept`) or not (replays, which never roll back).
    pub(super) fn new(kept: bool) -> Self {
        Self {
            entries: kept.then(Vec::new),
            current: 0,
            logging: true,
        }
    }

    pub(super) fn is_kept(&self) -> bool {
        self.entries.is_some()
    }

    /// Where changes are to be logged now, if anywhere.
    pub(super) fn active(&mut self) -> Option<&mut Vec<Undo>> {
        self.entries.as_mut().filter(|_| self.logging)
    }

    /// Before a pending change under `key` is edited in place: logs what puts it back
    /// (`previous`, made only then), unless the current savepoint's log already does.
    pub(super) fn keep_restorable(
        &mut self,
        (tree, key): (TreeId, &[u8]),
        restorable_in: &mut u64,
        previous: impl FnOnce() -> Change,
    ) {
        let current = self.current;
        let Some(undo) = self.active() else { return };
        if *restorable_in == current {
            return;
        }
        let previous = Pending::new(previous(), *restorable_in);
        undo.push(Undo::Restore((tree, key.to_vec()), Some(previous)));
        *restorable_in = current;
    }

    /// Before bytes pending under `key` (now `len` long) are appended to: logs the cut
    /// that puts them back, unless a restore or a cut in the current savepoint's log does.
    pub(super) fn keep_cuttable(
        &mut self,
        (tree, key): (TreeId, &[u8]),
        (restorable_in, appended_in): (u64, &mut u64),
        len: usize,
    ) {
        let current = self.current;
        let Some(undo) = self.active() else { return };
        if restorable_in == current || *appended_in == current {
            return;
        }
        undo.push(Undo::Shorten((tree, key.to_vec()), len));
        *appended_in = current;
    }

    pub(super) fn clear(&mut self) {
        if let Some(undo) = &mut self.entries {
            undo.clear();
        }
    }
}

impl Overlay {
    pub fn savepoint(&mut self) -> Savepoint {
        self.undo.current += 1;
        self.undo.logging = true;
        Savepoint(self.undo.entries.as_ref().map_or(0, Vec::len))
    }

    /// Keeps the changes made since `savepoint` whatever happens next: what would undo
    /// them is dropped now instead of when the group leaves, and nothing may be rolled back
    /// to `savepoint` or before it.
    pub fn release(&mut self, savepoint: Savepoint) {
        // Later changes are not restorable by entries that are gone, and need none.
        self.undo.current += 1;
        self.undo.logging = false;
        if let Some(undo) = &mut self.undo.entries {
            undo.truncate(savepoint.0);
        }
    }

    /// Undoes every change made since `savepoint`.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        // Rollbacks are rare (a refused command); forgetting every decoded value is simplest.
        self.decoded.get_mut().clear();
        // What is marked restorable or cut in the current savepoint may have lost its entry.
        self.undo.current += 1;
        let undo = (self.undo.entries.as_mut()).expect("rollback needs an overlay made with `new`");
        while undo.len() > savepoint.0 {
            match undo.pop().expect("undo entries above the savepoint") {
                Undo::Restore(slot, Some(previous)) => {
                    self.pending.insert(slot, previous);
                }
                Undo::Restore((tree, key), None) => {
                    self.pending.remove(tree, &key);
                }
                Undo::Shorten((tree, key), len) => {
                    if let Some(Pending {
                        change: Change::Bytes(value),
                        ..
                    }) = self.pending.get_mut(tree, &key)
                    {
                        value.truncate(len);
                    }
                }
            }
        }
    }
}
