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

/// Before a pending change under `key` is edited in place: logs what puts it back
/// (`previous`, made only then), unless the current savepoint's log already does.
pub(super) fn keep_restorable(
    undo: Option<&mut Vec<Undo>>,
    savepoints: u64,
    (tree, key): (TreeId, &[u8]),
    restorable_in: &mut u64,
    previous: impl FnOnce() -> Change,
) {
    let Some(undo) = undo else { return };
    if *restorable_in == savepoints {
        return;
    }
    let previous = Pending {
        change: previous(),
        restorable_in: *restorable_in,
        appended_in: 0,
    };
    undo.push(Undo::Restore((tree, key.to_vec()), Some(previous)));
    *restorable_in = savepoints;
}

impl Overlay {
    pub fn savepoint(&mut self) -> Savepoint {
        self.savepoints += 1;
        self.logging = true;
        Savepoint(self.undo.as_ref().map_or(0, Vec::len))
    }

    /// Keeps the changes made since `savepoint` whatever happens next: what would undo
    /// them is dropped now instead of when the group leaves, and nothing may be rolled back
    /// to `savepoint` or before it.
    pub fn release(&mut self, savepoint: Savepoint) {
        // Later changes are not restorable by entries that are gone, and need none.
        self.savepoints += 1;
        self.logging = false;
        if let Some(undo) = &mut self.undo {
            undo.truncate(savepoint.0);
        }
    }

    /// Undoes every change made since `savepoint`.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        // Rollbacks are rare (a refused command); forgetting every decoded value is simplest.
        self.decoded.get_mut().clear();
        // What is marked restorable or cut in the current savepoint may have lost its entry.
        self.savepoints += 1;
        let undo = self.undo.as_mut().expect("rollback needs an overlay made with `new`");
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

    pub(super) fn clear_undo(&mut self) {
        if let Some(undo) = &mut self.undo {
            undo.clear();
        }
    }
}
