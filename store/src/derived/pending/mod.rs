//! One group's pending changes over a `Trees` view: savepoints so one refused command
//! undoes only its own changes, values encoded once when the group leaves, and posting
//! lists appended to in place.
//!
//! A group rewrites its hot keys many times — the Merkle frontier and the account's audit
//! page on every event, a run's state on every metric it logs — so a value put here stays
//! a value until the group is committed, and an append extends the pending bytes instead
//! of copying them: each hot key is encoded and copied once per group, not once per event.

#[cfg(test)]
mod kept_tests;
mod savepoints;

use super::overlay::{decode, encode, Key, TreeId, Trees};
use super::per_tree::PerTree;
use crate::error::Result;
#[cfg(test)]
pub(crate) use savepoints::Savepoint;
use savepoints::{Pending, Undo, UndoLog};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// A typed value waiting to be encoded.
trait Encodable: Send {
    fn encode(&self) -> Vec<u8>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<T: Serialize + Send + 'static> Encodable for T {
    fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// A key's pending change.
enum Change {
    Removed,
    Bytes(Vec<u8>),
    /// A value, encoded when the group is committed. One that changed a value the key held
    /// before this group (a hub gaining a child, a run logging metrics) is `kept` decoded
    /// for the groups after, which are likely to change it again; a new one (an entity
    /// just made) is not: most are not read again soon, and keeping every one filled the
    /// cache with values only to drop them, cold, when it started over. One read later is
    /// kept when it is decoded. (Replays keep both: see `drain_encoded`.)
    Value {
        value: Box<dyn Encodable>,
        kept: bool,
    },
}

impl Change {
    fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Change::Removed => None,
            Change::Bytes(bytes) => Some(bytes.clone()),
            Change::Value { value, .. } => Some(value.encode()),
        }
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Removed => f.write_str("Removed"),
            Change::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Change::Value { kept, .. } => write!(f, "Value {{ kept: {kept} }}"),
        }
    }
}

/// One group's pending changes over a `Trees` view, with savepoints so one rejected
/// command undoes only its own changes.
#[derive(Debug)]
pub struct Overlay {
    view: Trees,
    pending: PerTree<Pending>,
    /// How to undo each change since a savepoint.
    undo: UndoLog,
    /// Decoded values of committed keys, so hot entities (a run logging metrics, its
    /// experiment, project and workspace) are not decoded again for every group.
    decoded: RefCell<PerTree<Box<dyn Any + Send>>>,
    /// Keys the view was found not to hold, so a key asked for again and again (a seat the
    /// actor does not hold; a new stream's version, read when its event is decided and
    /// again when it is applied) goes to sled once. Right for as long as `decoded` is: the
    /// view changes only through this overlay, and writing a key forgets it here. Not kept
    /// in replays, which apply events without deciding them and rarely ask twice.
    absent: Option<RefCell<PerTree<()>>>,
    /// Streams found to have no events since the layer was last frozen, by their key part
    /// (`entity_part`). No key about such a stream — its entity, children, lineage node
    /// and edges, history — is written before its first event, so any that is not in the
    /// layers is not in sled either: the first look at each key of a new entity costs no
    /// sled lookup. Forgotten when the layer is frozen, after which sled may receive the
    /// keys; writer's overlay only, like `absent`.
    fresh: Option<RefCell<HashSet<Vec<u8>, foldhash::fast::RandomState>>>,
    /// The group before, encoded, while its records sync: read under this group's changes
    /// and over the view, and put in the layer only once durable (`None`: removed).
    staged: PerTree<Option<Vec<u8>>>,
}

/// The tables whose keys begin, after their letter, with the key part of the entity they
/// are about, and are written only once it has an event: index `v` and `h`; state `e`
/// (the entity) and `c` (its children); lineage `n`, `o` and `i` (its nodes and edges).
/// Names are left out: a root-scoped name's key can begin like an entity's.
const ABOUT_ONE_ENTITY: [(TreeId, u8); 7] = [
    (0, b'v'),
    (0, b'h'),
    (1, b'e'),
    (1, b'c'),
    (2, b'n'),
    (2, b'o'),
    (2, b'i'),
];

/// Past this many keys known absent the set starts over, bounding its memory.
const ABSENT_CAPACITY: usize = 65_536;

/// Past this many decoded values the cache starts over, bounding its memory.
const DECODED_CAPACITY: usize = 4_096;

impl Overlay {
    /// An overlay whose changes can be rolled back to a savepoint.
    pub fn new(view: Trees) -> Self {
        Self::with_undo(view, UndoLog::new(true))
    }

    /// An overlay for replays, which never roll back.
    pub fn for_replay(view: Trees) -> Self {
        Self::with_undo(view, UndoLog::new(false))
    }

    fn with_undo(view: Trees, undo: UndoLog) -> Self {
        Self {
            view,
            pending: PerTree::default(),
            absent: undo.is_kept().then(RefCell::default),
            fresh: undo.is_kept().then(RefCell::default),
            decoded: RefCell::default(),
            staged: PerTree::default(),
            undo,
        }
    }

    pub fn view(&self) -> &Trees {
        &self.view
    }

    pub fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read_bytes(tree, key, |bytes| bytes.map(<[u8]>::to_vec))
    }

    /// Calls `read` with the bytes of `key` (`None` when it has none), lent where this group
    /// holds them: a stream's version is read from a value that also holds its open history
    /// chunk, without copying the chunk.
    /// `read` must not read the trees again (it may run under the layer's read lock).
    pub fn read_bytes<R>(&self, tree: TreeId, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        match self.pending.get(tree, key).map(|pending| &pending.change) {
            Some(Change::Bytes(bytes)) => Ok(read(Some(bytes))),
            Some(change) => Ok(read(change.bytes().as_deref())),
            None => self.view_read(tree, key, read),
        }
    }

    /// Lets `edit` change the bytes of `key` (empty when it has none) and keeps them: bytes
    /// this group already wrote are edited where they lie, so a value rewritten by every
    /// event of a stream (its version and open history chunk) is not copied per event in a
    /// replay.
    pub fn edit_bytes<R>(&mut self, tree: TreeId, key: &[u8], edit: impl FnOnce(&mut Vec<u8>) -> R) -> Result<R> {
        if let Some(Pending {
            change: Change::Bytes(bytes),
            restorable_in,
            ..
        }) = self.pending.get_mut(tree, key)
        {
            self.undo
                .keep_restorable((tree, key), restorable_in, || Change::Bytes(bytes.clone()));
            return Ok(edit(bytes));
        }
        let mut bytes = self.get(tree, key)?.unwrap_or_default();
        let answer = edit(&mut bytes);
        self.write((tree, key.to_vec()), Change::Bytes(bytes));
        Ok(answer)
    }

    pub fn contains(&self, tree: TreeId, key: &[u8]) -> Result<bool> {
        if let Some(pending) = self.pending.get(tree, key) {
            return Ok(!matches!(pending.change, Change::Removed));
        }
        self.view_read(tree, key, |bytes| bytes.is_some())
    }

    /// Notes that `stream` (its `entity_part`) has no events, not even pending ones.
    pub fn note_no_events(&self, stream: &[u8]) {
        if let Some(fresh) = &self.fresh {
            let mut fresh = fresh.borrow_mut();
            if fresh.len() >= ABSENT_CAPACITY {
                fresh.clear();
            }
            fresh.insert(stream.to_vec());
        }
    }

    /// Forgets which streams had no events: called as the layer is frozen, since sled may
    /// then receive keys written about them since.
    pub fn forget_fresh(&mut self) {
        if let Some(fresh) = &mut self.fresh {
            fresh.get_mut().clear();
        }
    }

    /// Whether `slot` is about a stream noted to have had no events before this layer.
    fn about_fresh(&self, tree: TreeId, key: &[u8]) -> bool {
        let Some(fresh) = &self.fresh else {
            return false;
        };
        let (Some(table), Some(rest)) = (key.first(), key.get(1..)) else {
            return false;
        };
        if !ABOUT_ONE_ENTITY.contains(&(tree, *table)) {
            return false;
        }
        // The kind code, the id and its NUL terminator.
        match rest.iter().skip(1).position(|byte| *byte == 0) {
            Some(end) => fresh.borrow().contains(&rest[..end + 2]),
            None => false,
        }
    }

    /// Calls `read` with the view's bytes of a key, lent; remembers a key it does not hold.
    fn view_read<R>(&self, tree: TreeId, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        if let Some(staged) = self.staged.get(tree, key) {
            return Ok(read(staged.as_deref()));
        }
        let Some(absent) = &self.absent else {
            return self.view.read(tree, key, read);
        };
        if absent.borrow().contains(tree, key) {
            return Ok(read(None));
        }
        let mut found = false;
        let noting = |bytes: Option<&[u8]>| {
            found = bytes.is_some();
            read(bytes)
        };
        let answer = if self.about_fresh(tree, key) {
            // Not in the layers: not in sled either.
            self.view
                .read_layered(tree, key, noting)
                .unwrap_or_else(|noting| noting(None))
        } else {
            self.view.read(tree, key, noting)?
        };
        if !found {
            let mut absent = absent.borrow_mut();
            if absent.len() >= ABSENT_CAPACITY {
                absent.clear();
            }
            absent.insert((tree, key.to_vec()), ());
        }
        Ok(answer)
    }

    /// Whether any live key starts with `prefix`, pending changes included. It looks
    /// through every pending change: for rare checks only.
    pub fn any_with_prefix(&self, tree: TreeId, prefix: &[u8]) -> Result<bool> {
        let pending = self.pending.iter().any(|(in_tree, key, pending)| {
            in_tree == tree && key.starts_with(prefix) && !matches!(pending.change, Change::Removed)
        });
        let removed_pending = |key: &[u8]| {
            self.pending
                .get(tree, key)
                .is_some_and(|pending| matches!(pending.change, Change::Removed))
        };
        let staged = || {
            self.staged.iter().any(|(in_tree, key, value)| {
                in_tree == tree && key.starts_with(prefix) && value.is_some() && !removed_pending(key)
            })
        };
        if pending || staged() {
            return Ok(true);
        }
        let stored = self.view.range(tree, prefix, prefix, 64)?;
        Ok(stored
            .iter()
            .any(|(key, _)| !removed_pending(key) && !matches!(self.staged.get(tree, key), Some(None))))
    }

    fn write(&mut self, (tree, key): Key, change: Change) {
        self.decoded.get_mut().remove(tree, &key);
        if let Some(absent) = &mut self.absent {
            absent.get_mut().remove(tree, &key);
        }
        let current = self.undo.current;
        let Some(undo) = self.undo.active() else {
            self.pending.insert((tree, key), Pending::new(change, current));
            return;
        };
        if let Some(entry) = self.pending.get_mut(tree, &key) {
            if entry.restorable_in == current {
                entry.change = change;
            } else {
                let previous = std::mem::replace(entry, Pending::new(change, current));
                undo.push(Undo::Restore((tree, key), Some(previous)));
            }
            return;
        }
        undo.push(Undo::Restore((tree, key.clone()), None));
        self.pending.insert((tree, key), Pending::new(change, current));
    }

    pub fn insert(&mut self, tree: TreeId, key: Vec<u8>, value: Vec<u8>) {
        self.write((tree, key), Change::Bytes(value));
    }

    pub fn remove(&mut self, tree: TreeId, key: Vec<u8>) {
        self.write((tree, key), Change::Removed);
    }

    /// Appends `bytes` to the value of `key` (to nothing when it has none): in place when
    /// this group already changed the key, so a posting list grown by every event of a
    /// group is copied once.
    pub fn append(&mut self, tree: TreeId, key: &[u8], bytes: &[u8]) -> Result<()> {
        if let Some(Pending {
            change: Change::Bytes(value),
            restorable_in,
            appended_in,
        }) = self.pending.get_mut(tree, key)
        {
            self.undo
                .keep_cuttable((tree, key), (*restorable_in, appended_in), value.len());
            value.extend_from_slice(bytes);
            return Ok(());
        }
        let mut value = self.get(tree, key)?.unwrap_or_default();
        value.extend_from_slice(bytes);
        self.write((tree, key.to_vec()), Change::Bytes(value));
        Ok(())
    }

    pub fn get_value<T: DeserializeOwned + Clone + Send + 'static>(
        &self,
        tree: TreeId,
        key: &[u8],
    ) -> Result<Option<T>> {
        self.inspect(tree, key, |value: Option<&T>| value.cloned())
    }

    /// Calls `look` with the decoded value of `key` (`None` when it has none), lent from
    /// where it is kept: a large value checked on every event (a lineage node with its
    /// edges) is not copied to be looked at.
    pub fn inspect<T: DeserializeOwned + Send + 'static, R>(
        &self,
        tree: TreeId,
        key: &[u8],
        look: impl FnOnce(Option<&T>) -> R,
    ) -> Result<R> {
        match self.pending.get(tree, key).map(|pending| &pending.change) {
            Some(Change::Value { value, .. }) => {
                if let Some(value) = value.as_any().downcast_ref::<T>() {
                    return Ok(look(Some(value)));
                }
                return Ok(look(Some(&decode(&value.encode())?)));
            }
            Some(change) => {
                let value: Option<T> = change.bytes().map(|bytes| decode(&bytes)).transpose()?;
                return Ok(look(value.as_ref()));
            }
            None => {}
        }
        if let Some(value) = self
            .decoded
            .borrow()
            .get(tree, key)
            .and_then(|value| value.downcast_ref::<T>())
        {
            return Ok(look(Some(value)));
        }
        // Decoded where the bytes lie; looked at once the layer is let go (`look` may read).
        let value: Option<T> = self.view_read(tree, key, |bytes| bytes.map(decode).transpose())??;
        let answer = look(value.as_ref());
        if let Some(value) = value {
            remember(&mut self.decoded.borrow_mut(), (tree, key.to_vec()), Box::new(value));
        }
        Ok(answer)
    }

    /// Sets `key` to `value`, encoded when the group is committed.
    pub fn put_value<T: Serialize + Send + 'static>(&mut self, tree: TreeId, key: Vec<u8>, value: T) {
        let value = Box::new(value);
        self.write((tree, key), Change::Value { value, kept: false });
    }

    /// Lets `change` edit the value of `key` and keeps the result; `None` when the key has
    /// no value. A value this group already put is edited in place (in a replay, a run
    /// logging metrics is neither copied nor encoded per event).
    pub fn update_value<T, R>(
        &mut self,
        tree: TreeId,
        key: &[u8],
        change: impl FnOnce(&mut T) -> Result<R>,
    ) -> Result<Option<R>>
    where
        T: DeserializeOwned + Serialize + Clone + Send + 'static,
    {
        if let Some(Pending {
            change: Change::Value { value, kept },
            restorable_in,
            ..
        }) = self.pending.get_mut(tree, key)
        {
            if let Some(typed) = value.as_any_mut().downcast_mut::<T>() {
                let kept = *kept;
                self.undo.keep_restorable((tree, key), restorable_in, || Change::Value {
                    value: Box::new(typed.clone()),
                    kept,
                });
                return change(typed).map(Some);
            }
        }
        // A decoded committed value is taken, not cloned: writing the key drops it anyway.
        let taken = self
            .decoded
            .get_mut()
            .remove(tree, key)
            .and_then(|value| value.downcast::<T>().ok());
        let mut value = match taken {
            Some(value) => *value,
            None => match self.get_value::<T>(tree, key)? {
                Some(value) => value,
                None => return Ok(None),
            },
        };
        let result = change(&mut value)?;
        let value = Box::new(value);
        self.write((tree, key.to_vec()), Change::Value { value, kept: true });
        Ok(Some(result))
    }

    /// Encodes the pending changes, keeping decoded values for the next group.
    fn drain_encoded(&mut self) -> Vec<(Key, Option<Vec<u8>>)> {
        let decoded = self.decoded.get_mut();
        // Replays (no undo log) keep new values too: their next batch reads what this one
        // wrote from sled, where a miss costs a lookup and a decode.
        let keep_new_values = !self.undo.is_kept();
        let changes = self
            .pending
            .drain()
            .map(|(slot, pending)| match pending.change {
                Change::Removed => (slot, None),
                Change::Bytes(bytes) => (slot, Some(bytes)),
                Change::Value { value, kept } => {
                    let bytes = value.encode();
                    if kept || keep_new_values {
                        remember(decoded, slot.clone(), value.into_any());
                    }
                    (slot, Some(bytes))
                }
            })
            .collect();
        self.undo.clear();
        changes
    }

    /// Moves the pending changes into the view's unflushed layer, where readers see them.
    pub fn commit_to_layer(&mut self) {
        let changes = self.drain_encoded();
        self.view.add_to_layer(changes.into_iter());
    }

    /// Sets the pending changes aside, encoded, while the group's records sync: the next
    /// group reads them under its own, and nobody else sees them until
    /// [`Overlay::commit_staged`] (or [`Overlay::drop_staged`] forgets them).
    pub fn stage(&mut self) {
        assert_eq!(self.staged.len(), 0, "one group staged at a time");
        for (slot, value) in self.drain_encoded() {
            self.staged.insert(slot, value);
        }
    }

    /// Moves the staged group's changes into the layer, where readers see them.
    pub fn commit_staged(&mut self) {
        self.view.add_to_layer(self.staged.drain());
    }

    /// Forgets the staged group (its records did not become durable) and every change
    /// decided on top of it.
    pub fn drop_staged(&mut self) {
        self.discard();
        self.staged.clear();
    }

    /// Writes the pending changes straight to sled with `checkpoint` (replays only: the
    /// layer must be empty, or older layered values would shadow these).
    pub fn commit_to_sled(&mut self, checkpoint: u64) -> Result<()> {
        let changes = self.drain_encoded();
        self.view.write_replayed(&changes, checkpoint)
    }

    /// Forgets every pending change (a staged group stays).
    pub fn discard(&mut self) {
        self.decoded.get_mut().clear();
        if let Some(absent) = &mut self.absent {
            absent.get_mut().clear();
        }
        self.forget_fresh();
        self.pending.clear();
        self.undo.clear();
    }
}

fn remember(decoded: &mut PerTree<Box<dyn Any + Send>>, slot: Key, value: Box<dyn Any + Send>) {
    if decoded.len() >= DECODED_CAPACITY {
        decoded.clear();
    }
    decoded.insert(slot, value);
}
