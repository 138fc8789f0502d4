//! The overlay's savepoints, rollbacks, appends and lazily encoded values, journal replay
//! and reads through layers.

use super::*;
use crate::derived::pending::Overlay;
use lineage_schema::{EntityKind, EntityRef};

fn journal_path() -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    dir.join("derived-journal")
}

fn tree() -> sled::Tree {
    sled::Config::new()
        .temporary(true)
        .open()
        .unwrap()
        .open_tree("t")
        .unwrap()
}

#[test]
fn rollback_undoes_only_later_changes() {
    let tree = tree();
    tree.insert("a", "sled").unwrap();
    let mut overlay = Overlay::new(Trees::new(vec![tree.clone()], journal_path()));
    overlay.insert(0, b"b".to_vec(), b"1".to_vec());
    let savepoint = overlay.savepoint();
    overlay.insert(0, b"b".to_vec(), b"2".to_vec());
    overlay.remove(0, b"a".to_vec());
    assert_eq!(overlay.get(0, b"a").unwrap(), None);
    overlay.rollback(savepoint);
    assert_eq!(overlay.get(0, b"a").unwrap(), Some(b"sled".to_vec()));
    assert_eq!(overlay.get(0, b"b").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn layered_changes_are_read_before_flush_and_stored_after() {
    let tree = tree();
    tree.insert("k1", "old").unwrap();
    tree.insert("k3", "gone soon").unwrap();
    let view = Trees::new(vec![tree.clone()], journal_path());
    let mut overlay = Overlay::new(view.clone());
    overlay.insert(0, b"k1".to_vec(), b"new".to_vec());
    overlay.insert(0, b"k2".to_vec(), b"added".to_vec());
    overlay.remove(0, b"k3".to_vec());
    overlay.commit_to_layer();
    let keys = |found: Vec<(Vec<u8>, Vec<u8>)>| {
        found
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect::<Vec<_>>()
    };
    let merged = keys(view.range(0, b"k", b"k", 10).unwrap());
    assert_eq!(merged, [("k1".into(), "new".into()), ("k2".into(), "added".into())]);
    assert_eq!(tree.get("k1").unwrap().unwrap().as_ref(), b"old");
    assert_eq!(view.floor(0, b"k", b"k9").unwrap().unwrap().0, b"k2");
    view.flush_layer(9).unwrap();
    assert!(view.layer_is_empty());
    assert_eq!(keys(view.range(0, b"k", b"k", 10).unwrap()), merged);
    assert_eq!(checkpoint(&tree).unwrap(), 9);
}

#[test]
fn recent_changes_win_over_a_frozen_layer_which_wins_over_sled() {
    let tree = tree();
    for key in ["k1", "k2", "k3", "k4"] {
        tree.insert(key, "sled").unwrap();
    }
    let view = Trees::new(vec![tree.clone()], journal_path());
    let mut overlay = Overlay::new(view.clone());
    overlay.insert(0, b"k1".to_vec(), b"frozen".to_vec());
    overlay.insert(0, b"k2".to_vec(), b"frozen".to_vec());
    overlay.remove(0, b"k3".to_vec());
    overlay.insert(0, b"k5".to_vec(), b"frozen".to_vec());
    overlay.commit_to_layer();
    assert!(view.freeze(5));
    overlay.insert(0, b"k2".to_vec(), b"recent".to_vec());
    overlay.insert(0, b"k3".to_vec(), b"recent".to_vec());
    overlay.remove(0, b"k5".to_vec());
    overlay.insert(0, b"k6".to_vec(), b"recent".to_vec());
    overlay.commit_to_layer();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = [
        ("k1", "frozen"),
        ("k2", "recent"),
        ("k3", "recent"),
        ("k4", "sled"),
        ("k6", "recent"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    let read = |view: &Trees| {
        assert_eq!(view.range(0, b"k", b"k", 10).unwrap(), expected);
        assert_eq!(view.get(0, b"k5").unwrap(), None);
        assert_eq!(view.get(0, b"k1").unwrap().unwrap(), b"frozen");
        assert_eq!(view.floor(0, b"k", b"k5").unwrap().unwrap().0, b"k4");
        assert_eq!(view.floor(0, b"k", b"k9").unwrap().unwrap().0, b"k6");
        assert_eq!(view.range(0, b"k", b"k2", 2).unwrap(), expected[1..3]);
    };
    read(&view);
    view.write_frozen().unwrap();
    assert_eq!(checkpoint(&tree).unwrap(), 5);
    assert_eq!(tree.get("k5").unwrap().unwrap().as_ref(), b"frozen");
    read(&view);
    view.flush_layer(9).unwrap();
    assert!(view.layer_is_empty());
    assert_eq!(checkpoint(&tree).unwrap(), 9);
    read(&view);
}

#[test]
fn a_flush_cut_short_is_finished_from_its_journal_and_a_stale_or_damaged_one_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let journal_file = dir.path().join(journal::FILE);
    let open = || {
        let db = crate::derived::open_sled_waiting(&dir.path().join("derived"));
        let trees = vec![db.open_tree("a").unwrap(), db.open_tree("b").unwrap()];
        let records = db.open_tree("records").unwrap();
        (db, Trees::with_records(trees, records, journal_file.clone()))
    };
    // Keys of their own, and an entity's version and state, which share a record.
    let mut entries: Vec<journal::Entry> = (0..100u32)
        .map(|n| {
            (
                (n % 2) as TreeId,
                format!("k{n:03}").into_bytes(),
                Some(n.to_be_bytes().to_vec()),
            )
        })
        .collect();
    for n in 0..20u32 {
        let entity = crate::derived::keys::entity_part(&EntityRef::new(EntityKind::Run, format!("run-{}", n / 2)));
        let slot = (n % 2) as TreeId;
        let letter = [b'v', b'e'][slot];
        entries.push((slot, [&[letter][..], &entity].concat(), Some(n.to_be_bytes().to_vec())));
    }
    fn as_slices(entries: &[journal::Entry]) -> Vec<journal::EntryRef<'_>> {
        entries
            .iter()
            .map(|(tree, key, value)| (*tree, key.as_slice(), value.as_deref()))
            .collect()
    }
    {
        let (db, view) = open();
        view.stored.write(std::iter::empty(), 3).unwrap();
        journal::write(&journal_file, 8, entries.len(), as_slices(&entries).into_iter()).unwrap();
        // The crash: a third of the keys reached sled, the checkpoints did not.
        for (tree, key, value) in &entries[..33] {
            view.sled_trees()[*tree].insert(key, value.clone().unwrap()).unwrap();
        }
        db.flush().unwrap();
    }
    let (db, view) = open();
    assert!(view.recover_journal().unwrap());
    assert!(!journal_file.exists());
    for (tree, key, value) in &entries {
        assert_eq!(view.get(*tree, key).unwrap(), *value);
    }
    assert!(view.all_sled_trees().all(|tree| checkpoint(tree).unwrap() == 8));
    assert_eq!(
        view.all_sled_trees().last().unwrap().len(),
        1 + 10,
        "ten records, each of two keys"
    );
    assert!(!view.recover_journal().unwrap(), "nothing left to recover");

    // A journal older than the trees puts nothing back.
    journal::write(&journal_file, 5, 1, [(0, &b"k000"[..], Some(&b"old"[..]))].into_iter()).unwrap();
    assert!(view.recover_journal().unwrap());
    assert_eq!(view.get(0, b"k000").unwrap(), entries[0].2);

    // A damaged one empties the trees, to be rebuilt from the log.
    journal::write(&journal_file, 9, entries.len(), as_slices(&entries).into_iter()).unwrap();
    let mut bytes = std::fs::read(&journal_file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&journal_file, bytes).unwrap();
    assert!(view.recover_journal().unwrap());
    assert!(view.all_sled_trees().all(|tree| tree.is_empty()));
    assert!(!journal_file.exists());
    drop(db);
}

#[test]
fn appends_extend_in_place_and_roll_back_to_their_length() {
    let tree = tree();
    tree.insert("list", "ab").unwrap();
    let mut overlay = Overlay::new(Trees::new(vec![tree.clone()], journal_path()));
    overlay.append(0, b"list", b"c").unwrap();
    overlay.append(0, b"new", b"x").unwrap();
    let savepoint = overlay.savepoint();
    overlay.append(0, b"list", b"de").unwrap();
    overlay.append(0, b"new", b"y").unwrap();
    assert_eq!(overlay.get(0, b"list").unwrap(), Some(b"abcde".to_vec()));
    overlay.rollback(savepoint);
    assert_eq!(overlay.get(0, b"list").unwrap(), Some(b"abc".to_vec()));
    assert_eq!(overlay.get(0, b"new").unwrap(), Some(b"x".to_vec()));
    overlay.remove(0, b"list".to_vec());
    overlay.append(0, b"list", b"z").unwrap();
    assert_eq!(overlay.get(0, b"list").unwrap(), Some(b"z".to_vec()));
    assert_eq!(
        tree.get("list").unwrap().unwrap().as_ref(),
        b"ab",
        "sled untouched before commit"
    );
}

#[test]
fn values_are_encoded_once_committed_and_read_the_same_before() {
    let tree = tree();
    let view = Trees::new(vec![tree.clone()], journal_path());
    let mut overlay = Overlay::new(view.clone());
    overlay.put_value(0, b"v".to_vec(), vec![1u64, 2]);
    let savepoint = overlay.savepoint();
    overlay.put_value(0, b"v".to_vec(), vec![1u64, 2, 3]);
    assert_eq!(overlay.get(0, b"v").unwrap(), Some(encode(&vec![1u64, 2, 3])));
    assert_eq!(overlay.get_value::<Vec<u64>>(0, b"v").unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(
        overlay.get_value::<Vec<u32>>(0, b"v").unwrap(),
        Some(vec![1, 2, 3]),
        "another type decodes the bytes"
    );
    overlay.rollback(savepoint);
    assert_eq!(overlay.get_value::<Vec<u64>>(0, b"v").unwrap(), Some(vec![1, 2]));
    assert!(
        view.get(0, b"v").unwrap().is_none(),
        "readers see nothing before the commit"
    );
    overlay.commit_to_layer();
    assert_eq!(view.get(0, b"v").unwrap(), Some(encode(&vec![1u64, 2])));
    assert_eq!(overlay.get_value::<Vec<u64>>(0, b"v").unwrap(), Some(vec![1, 2]));
    view.flush_layer(1).unwrap();
    assert_eq!(
        decode::<Vec<u64>>(&tree.get("v").unwrap().unwrap()).unwrap(),
        vec![1, 2]
    );
}

#[test]
fn a_key_found_absent_is_read_again_once_written_committed_or_rolled_back() {
    let tree = tree();
    let mut overlay = Overlay::new(Trees::new(vec![tree.clone()], journal_path()));
    // Absent three ways: bytes, presence and a decoded value; each remembered.
    assert_eq!(overlay.get(0, b"seat").unwrap(), None);
    assert!(!overlay.contains(0, b"seat").unwrap());
    assert_eq!(overlay.get_value::<u64>(0, b"count").unwrap(), None);

    // Written in a group that is then refused: absent again, still.
    let savepoint = overlay.savepoint();
    overlay.insert(0, b"seat".to_vec(), b"held".to_vec());
    assert!(overlay.contains(0, b"seat").unwrap());
    overlay.rollback(savepoint);
    assert!(!overlay.contains(0, b"seat").unwrap());

    // Written and committed to the layer, then flushed to sled: present for good.
    overlay.insert(0, b"seat".to_vec(), b"held".to_vec());
    overlay.put_value(0, b"count".to_vec(), 7u64);
    overlay.commit_to_layer();
    assert_eq!(overlay.get(0, b"seat").unwrap(), Some(b"held".to_vec()));
    assert_eq!(overlay.get_value::<u64>(0, b"count").unwrap(), Some(7));
    overlay.view().flush_layer(1).unwrap();
    assert_eq!(overlay.get(0, b"seat").unwrap(), Some(b"held".to_vec()));
    assert_eq!(tree.get("seat").unwrap().as_deref(), Some(&b"held"[..]));

    // Removed: absent again, through the layer.
    overlay.remove(0, b"seat".to_vec());
    overlay.commit_to_layer();
    assert!(!overlay.contains(0, b"seat").unwrap());
}

#[test]
fn keys_about_a_stream_without_events_skip_sled_until_the_layer_is_frozen() {
    let tree = tree();
    let stream = [3u8, b's', 0];
    let about = |table: u8| [&[table][..], &stream].concat();
    // Stand-ins that break the rule (nothing about a stream precedes its first event), put
    // in sled only to show whether sled is asked.
    tree.insert(about(b'v'), "in sled").unwrap();
    tree.insert(about(b'a'), "in sled").unwrap();
    let mut overlay = Overlay::new(Trees::new(vec![tree.clone()], journal_path()));
    overlay.note_no_events(&stream);
    assert_eq!(overlay.get(0, &about(b'v')).unwrap(), None, "sled is not asked");
    assert_eq!(
        overlay.get(0, &about(b'a')).unwrap(),
        Some(b"in sled".to_vec()),
        "a table not about one entity is asked"
    );
    assert_eq!(
        overlay.get(0, &[&[b'v', 3, b's', b't'][..], &[0]].concat()).unwrap(),
        None,
        "another stream whose id begins the same is asked (and holds nothing)"
    );

    // What the stream's events write is read from the layer, and from sled once frozen.
    overlay.insert(0, about(b'h'), b"1".to_vec());
    overlay.commit_to_layer();
    assert_eq!(overlay.get(0, &about(b'h')).unwrap(), Some(b"1".to_vec()));
    overlay.forget_fresh();
    overlay.view().flush_layer(1).unwrap();
    assert!(overlay.view().layer_is_empty());
    assert_eq!(overlay.get(0, &about(b'h')).unwrap(), Some(b"1".to_vec()));
}

#[test]
fn bytes_edited_in_place_are_read_lent_and_roll_back_whole() {
    let tree = tree();
    tree.insert("v", "ab").unwrap();
    let mut overlay = Overlay::new(Trees::new(vec![tree.clone()], journal_path()));
    overlay.edit_bytes(0, b"v", |bytes| bytes.push(b'c')).unwrap();
    let savepoint = overlay.savepoint();
    let length = overlay
        .edit_bytes(0, b"v", |bytes| {
            bytes[0] = b'A';
            bytes.push(b'd');
            bytes.len()
        })
        .unwrap();
    assert_eq!(length, 4);
    assert_eq!(
        overlay.read_bytes(0, b"v", |bytes| bytes.map(<[u8]>::to_vec)).unwrap(),
        Some(b"Abcd".to_vec())
    );
    overlay.rollback(savepoint);
    assert_eq!(overlay.get(0, b"v").unwrap(), Some(b"abc".to_vec()));
    overlay
        .edit_bytes(0, b"new", |bytes| bytes.extend_from_slice(b"x"))
        .unwrap();
    assert_eq!(
        overlay.read_bytes(0, b"new", |bytes| bytes.map(<[u8]>::len)).unwrap(),
        Some(1)
    );
    assert!(overlay.read_bytes(0, b"none", |bytes| bytes.is_none()).unwrap());
    overlay.commit_to_layer();
    overlay.view().flush_layer(1).unwrap();
    assert_eq!(tree.get("v").unwrap().as_deref(), Some(&b"abc"[..]));
}

/// A layer answers for every key it holds, in either tree, and for no other — the hashes
/// of its keys only let a lookup skip the search, never a key it holds. Keys in the
/// frozen layer stay found while a new recent layer fills.
#[test]
fn every_layered_key_is_found_and_no_other() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let trees = vec![db.open_tree("a").unwrap(), db.open_tree("b").unwrap()];
    let view = Trees::new(trees, journal_path());
    let key = |index: u32| format!("key-{index}").into_bytes();
    view.add_to_layer((0..3_000u32).map(|index| ((index as usize % 2, key(index)), Some(key(index)))));
    assert!(view.freeze(1));
    view.add_to_layer((3_000..6_000u32).map(|index| ((index as usize % 2, key(index)), Some(key(index)))));
    for index in 0..6_000u32 {
        let tree = index as usize % 2;
        assert_eq!(view.get(tree, &key(index)).unwrap(), Some(key(index)), "key {index}");
        assert_eq!(
            view.get(1 - tree, &key(index)).unwrap(),
            None,
            "key {index} in the other tree"
        );
    }
    for index in 6_000..12_000u32 {
        assert_eq!(view.get(index as usize % 2, &key(index)).unwrap(), None, "key {index}");
    }
}

/// An update takes a committed value from the decoded cache instead of cloning it: the
/// committed value must still read the same after the update is rolled back, or when the
/// update fails, and the updated one once it is committed.
#[test]
fn a_value_updated_from_the_decoded_cache_leaves_the_committed_one_intact() {
    let mut overlay = Overlay::new(Trees::new(vec![tree()], journal_path()));
    overlay.put_value(0, b"run".to_vec(), vec![1u32, 2]);
    overlay.commit_to_layer();
    // Read once: now decoded and cached.
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"run").unwrap(), Some(vec![1, 2]));
    let savepoint = overlay.savepoint();
    let pushed = overlay.update_value(0, b"run", |value: &mut Vec<u32>| {
        value.push(3);
        Ok(value.len())
    });
    assert_eq!(pushed.unwrap(), Some(3));
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"run").unwrap(), Some(vec![1, 2, 3]));
    overlay.rollback(savepoint);
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"run").unwrap(), Some(vec![1, 2]));
    let failed = overlay.update_value(0, b"run", |value: &mut Vec<u32>| {
        value.clear();
        Err::<(), _>(Error::Derived("refused".into()))
    });
    assert!(failed.is_err());
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"run").unwrap(), Some(vec![1, 2]));
    overlay
        .update_value(0, b"run", |value: &mut Vec<u32>| {
            value.push(4);
            Ok(())
        })
        .unwrap();
    overlay.commit_to_layer();
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"run").unwrap(), Some(vec![1, 2, 4]));
    assert_eq!(
        overlay.view().get_value::<Vec<u32>>(0, b"run").unwrap(),
        Some(vec![1, 2, 4])
    );
}

#[test]
fn a_staged_group_is_read_by_the_next_and_reaches_readers_only_when_committed() {
    let tree = tree();
    tree.insert("kept", "sled").unwrap();
    tree.insert("gone", "sled").unwrap();
    let view = Trees::new(vec![tree.clone()], journal_path());
    let mut overlay = Overlay::new(view.clone());
    overlay.insert(0, b"a".to_vec(), b"1".to_vec());
    overlay.put_value(0, b"v".to_vec(), vec![1u64]);
    overlay.remove(0, b"gone".to_vec());
    overlay.stage();
    // The next group reads the staged one's changes over the view…
    assert_eq!(overlay.get(0, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(overlay.get_value::<Vec<u64>>(0, b"v").unwrap(), Some(vec![1]));
    assert_eq!(overlay.get(0, b"gone").unwrap(), None);
    assert_eq!(overlay.get(0, b"kept").unwrap(), Some(b"sled".to_vec()));
    assert!(overlay.any_with_prefix(0, b"a").unwrap());
    assert!(
        !overlay.any_with_prefix(0, b"gon").unwrap(),
        "a staged removal hides sled's key"
    );
    // …readers do not see them yet.
    assert_eq!(view.get(0, b"a").unwrap(), None);
    assert_eq!(view.get(0, b"gone").unwrap(), Some(b"sled".to_vec()));
    // A rollback in the next group goes back to the staged values, not the view's.
    let savepoint = overlay.savepoint();
    overlay.insert(0, b"a".to_vec(), b"rolled back".to_vec());
    overlay
        .update_value(0, b"v", |v: &mut Vec<u64>| {
            v.push(9);
            Ok(())
        })
        .unwrap();
    overlay.rollback(savepoint);
    assert_eq!(overlay.get(0, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(overlay.get_value::<Vec<u64>>(0, b"v").unwrap(), Some(vec![1]));
    overlay.insert(0, b"a".to_vec(), b"2".to_vec());
    overlay
        .update_value(0, b"v", |v: &mut Vec<u64>| {
            v.push(2);
            Ok(())
        })
        .unwrap();
    // Committed, the staged group shows as it was staged; the next one's changes do not.
    overlay.commit_staged();
    assert_eq!(view.get(0, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(view.get(0, b"v").unwrap(), Some(encode(&vec![1u64])));
    assert_eq!(view.get(0, b"gone").unwrap(), None);
    overlay.commit_to_layer();
    assert_eq!(view.get(0, b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(view.get(0, b"v").unwrap(), Some(encode(&vec![1u64, 2])));
    // Dropped, a staged group and everything decided on top of it are forgotten.
    overlay.insert(0, b"b".to_vec(), b"x".to_vec());
    overlay
        .update_value(0, b"v", |v: &mut Vec<u64>| {
            v.push(3);
            Ok(())
        })
        .unwrap();
    overlay.stage();
    overlay.insert(0, b"c".to_vec(), b"y".to_vec());
    overlay.drop_staged();
    assert_eq!(overlay.get(0, b"b").unwrap(), None);
    assert_eq!(overlay.get(0, b"c").unwrap(), None);
    assert_eq!(overlay.get_value::<Vec<u64>>(0, b"v").unwrap(), Some(vec![1, 2]));
    overlay.commit_to_layer();
    assert_eq!(view.get(0, b"b").unwrap(), None);
    assert_eq!(view.get(0, b"v").unwrap(), Some(encode(&vec![1u64, 2])));
}

/// One step of the model-based rollback test: byte keys `b0`–`b3`, value keys `v0`–`v2`.
#[derive(Clone, Debug)]
enum Step {
    Insert(usize, u8),
    Remove(usize),
    Append(usize, u8),
    EditBytes(usize, u8),
    PutValue(usize, u64),
    UpdateValue(usize, u64),
    RemoveValue(usize),
    Savepoint,
    /// Back to the savepoint this far from the oldest still open (modulo their count).
    Rollback(usize),
    /// Keep everything since the latest savepoint: none still open may be rolled back to.
    Release,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0..4usize, any::<u8>()).prop_map(|(key, byte)| Step::Insert(key, byte)),
        (0..4usize).prop_map(Step::Remove),
        (0..4usize, any::<u8>()).prop_map(|(key, byte)| Step::Append(key, byte)),
        (0..4usize, any::<u8>()).prop_map(|(key, byte)| Step::EditBytes(key, byte)),
        (0..3usize, any::<u64>()).prop_map(|(key, value)| Step::PutValue(key, value)),
        (0..3usize, any::<u64>()).prop_map(|(key, value)| Step::UpdateValue(key, value)),
        (0..3usize).prop_map(Step::RemoveValue),
        Just(Step::Savepoint),
        Just(Step::Savepoint),
        (0..8usize).prop_map(Step::Rollback),
        Just(Step::Release),
    ]
}

/// What the overlay should read: every key's bytes (values encoded).
type Model = std::collections::BTreeMap<Vec<u8>, Vec<u8>>;

fn byte_key(key: usize) -> Vec<u8> {
    format!("b{key}").into_bytes()
}

fn value_key(key: usize) -> Vec<u8> {
    format!("v{key}").into_bytes()
}

proptest::proptest! {
    /// Any mix of changes (whole values, appends, edits in place, typed values), savepoints
    /// and rollbacks (to the latest savepoint or an older one, once or again) reads like a
    /// model that keeps a copy of everything at each savepoint, and what is committed then
    /// is what the model holds; a released savepoint's changes stay. (It found that an undo
    /// log skipping a key's later changes after one append would put back only the
    /// append's cut.)
    #[test]
    fn rollbacks_put_back_what_each_savepoint_saw(steps in proptest::collection::vec(step(), 1..80)) {
        let tree = tree();
        tree.insert("b0", "sled").unwrap();
        tree.insert("v0", encode(&vec![7u64])).unwrap();
        let view = Trees::new(vec![tree.clone()], journal_path());
        let mut overlay = Overlay::new(view.clone());
        let mut model: Model = [(b"b0".to_vec(), b"sled".to_vec()), (b"v0".to_vec(), encode(&vec![7u64]))].into();
        let mut open: Vec<(crate::derived::pending::Savepoint, Model)> = Vec::new();
        for step in steps {
            match step {
                Step::Insert(key, byte) => {
                    overlay.insert(0, byte_key(key), vec![byte]);
                    model.insert(byte_key(key), vec![byte]);
                }
                Step::Remove(key) => {
                    overlay.remove(0, byte_key(key));
                    model.remove(&byte_key(key));
                }
                Step::Append(key, byte) => {
                    overlay.append(0, &byte_key(key), &[byte, byte]).unwrap();
                    model.entry(byte_key(key)).or_default().extend([byte, byte]);
                }
                Step::EditBytes(key, byte) => {
                    overlay.edit_bytes(0, &byte_key(key), |bytes| bytes.push(byte)).unwrap();
                    model.entry(byte_key(key)).or_default().push(byte);
                }
                Step::PutValue(key, value) => {
                    overlay.put_value(0, value_key(key), vec![value]);
                    model.insert(value_key(key), encode(&vec![value]));
                }
                Step::UpdateValue(key, value) => {
                    let updated = overlay
                        .update_value(0, &value_key(key), |values: &mut Vec<u64>| {
                            values.push(value);
                            Ok(())
                        })
                        .unwrap();
                    if let Some(bytes) = model.get_mut(&value_key(key)) {
                        let mut values: Vec<u64> = decode(bytes).unwrap();
                        values.push(value);
                        *bytes = encode(&values);
                    }
                    proptest::prop_assert_eq!(updated.is_some(), model.contains_key(&value_key(key)));
                }
                Step::RemoveValue(key) => {
                    overlay.remove(0, value_key(key));
                    model.remove(&value_key(key));
                }
                Step::Savepoint => open.push((overlay.savepoint(), model.clone())),
                Step::Rollback(back) => {
                    if !open.is_empty() {
                        let index = open.len() - 1 - back % open.len();
                        open.truncate(index + 1);
                        overlay.rollback(open[index].0);
                        model = open[index].1.clone();
                    }
                }
                Step::Release => {
                    if let Some((savepoint, _)) = open.pop() {
                        overlay.release(savepoint);
                        open.clear();
                    }
                }
            }
            for key in (0..4).map(byte_key).chain((0..3).map(value_key)) {
                proptest::prop_assert_eq!(overlay.get(0, &key).unwrap(), model.get(&key).cloned(), "{:?}", String::from_utf8_lossy(&key));
            }
        }
        overlay.commit_to_layer();
        for key in (0..4).map(byte_key).chain((0..3).map(value_key)) {
            proptest::prop_assert_eq!(view.get(0, &key).unwrap(), model.get(&key).cloned());
        }
    }
}
