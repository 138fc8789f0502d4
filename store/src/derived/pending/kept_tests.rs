//! Which values the overlay keeps decoded from one group to the next: those that changed
//! a value the key held before the group, and those read since (in replays, every
//! value); never a stale one.

use super::*;

fn trees() -> Trees {
    let tree = sled::Config::new()
        .temporary(true)
        .open()
        .unwrap()
        .open_tree("t")
        .unwrap();
    let journal = tempfile::tempdir().unwrap().keep().join("derived-journal");
    Trees::new(vec![tree], journal)
}

fn overlay() -> Overlay {
    Overlay::new(trees())
}

fn kept(overlay: &Overlay, key: &[u8]) -> bool {
    overlay.decoded.borrow().get(0, key).is_some()
}

#[test]
fn a_new_value_is_kept_decoded_once_read_and_a_changed_one_at_once() {
    let mut overlay = overlay();
    overlay.put_value(0, b"new".to_vec(), vec![1u32]);
    overlay.commit_to_layer();
    assert!(!kept(&overlay, b"new"), "a value just made is not kept");
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"new").unwrap(), Some(vec![1]));
    assert!(kept(&overlay, b"new"), "read, it is kept");
    overlay
        .update_value(0, b"new", |value: &mut Vec<u32>| {
            value.push(2);
            Ok(())
        })
        .unwrap();
    assert!(!kept(&overlay, b"new"), "taken while the group changes it");
    overlay.commit_to_layer();
    assert!(kept(&overlay, b"new"), "changed, it is kept for the next group");
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"new").unwrap(), Some(vec![1, 2]));
    // Made anew over a kept value: the old one is not served, the new one not kept.
    overlay.put_value(0, b"new".to_vec(), vec![9u32]);
    assert!(!kept(&overlay, b"new"));
    overlay.commit_to_layer();
    assert!(!kept(&overlay, b"new"));
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"new").unwrap(), Some(vec![9]));
    assert_eq!(overlay.view().get_value::<Vec<u32>>(0, b"new").unwrap(), Some(vec![9]));
}

/// A value made and then changed in the same group is still new; rolled back to before
/// the change, it stays new.
#[test]
fn a_value_made_and_changed_in_one_group_is_not_kept() {
    let mut overlay = overlay();
    overlay.put_value(0, b"run".to_vec(), vec![1u32]);
    let savepoint = overlay.savepoint();
    overlay
        .update_value(0, b"run", |value: &mut Vec<u32>| {
            value.push(2);
            Ok(())
        })
        .unwrap();
    overlay.rollback(savepoint);
    overlay.commit_to_layer();
    assert!(!kept(&overlay, b"run"));
    assert_eq!(overlay.get_value::<Vec<u32>>(0, b"run").unwrap(), Some(vec![1]));
}

/// A replay keeps every value it writes: its next batch would read them from sled.
#[test]
fn a_replay_keeps_new_values_too() {
    let mut replay = Overlay::for_replay(trees());
    replay.put_value(0, b"new".to_vec(), vec![1u32]);
    replay.commit_to_sled(1).unwrap();
    assert!(kept(&replay, b"new"));
    assert_eq!(replay.get_value::<Vec<u32>>(0, b"new").unwrap(), Some(vec![1]));
}
