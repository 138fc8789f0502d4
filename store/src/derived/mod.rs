//! Derived data on its way to sled: the overlay readers and the writer look through
//! (`overlay`), one group's pending changes over it (`pending`, in maps per tree: `per_tree`), the journal and flusher
//! that move layered changes into sled off the writer's thread, the key encoding every
//! projection shares (`keys`), and posting lists as deltas (`deltas`).

pub(crate) mod deltas;
pub(crate) mod flusher;
pub(crate) mod journal;
pub(crate) mod keys;
pub(crate) mod overlay;
pub(crate) mod pending;
pub(crate) mod per_tree;
