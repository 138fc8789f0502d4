//! Work in two stages on two threads: the next page made on one while the pages before
//! are taken on the other (reading and decoding the log beside writing what it holds).

/// Calls `next` on another thread for page after page until it gives none, handing each
/// to `take` here in order. `take` answers whether to go on; when it stops, or fails,
/// `next` is not called again (the page it is making is dropped). `take`'s error comes
/// first, then `next`'s.
pub fn pages<T: Send, E: Send>(
    next: &mut (dyn FnMut() -> Result<Option<T>, E> + Send),
    take: &mut dyn FnMut(T) -> Result<bool, E>,
) -> Result<(), E> {
    std::thread::scope(|scope| {
        // Two pages made ahead at most: memory stays a few pages whatever the log's size.
        let (sender, made) = std::sync::mpsc::sync_channel::<T>(2);
        let making = scope.spawn(move || -> Result<(), E> {
            while let Some(page) = next()? {
                if sender.send(page).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        let taken = (move || -> Result<(), E> {
            for page in made {
                if !take(page)? {
                    break;
                }
            }
            Ok(())
        })();
        // `made` is gone with the closure above, so a `next` blocked on a full channel
        // wakes to a closed one and ends.
        let made = making.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        taken.and(made)
    })
}

#[cfg(test)]
mod tests {
    use super::pages;

    #[test]
    fn every_page_is_taken_in_order() {
        let mut count = 0;
        let mut taken = Vec::new();
        pages::<u32, ()>(
            &mut || {
                count += 1;
                Ok((count <= 100).then_some(count))
            },
            &mut |page| {
                taken.push(page);
                Ok(true)
            },
        )
        .unwrap();
        assert_eq!(taken, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn a_taker_that_stops_or_fails_stops_the_maker() {
        for fails in [false, true] {
            let mut made = 0;
            let mut taken = 0;
            let result = pages::<u32, &str>(
                &mut || {
                    made += 1;
                    Ok(Some(made))
                },
                &mut |_| {
                    taken += 1;
                    match (taken, fails) {
                        (3, true) => Err("the output failed"),
                        (3, false) => Ok(false),
                        _ => Ok(true),
                    }
                },
            );
            assert_eq!(result, if fails { Err("the output failed") } else { Ok(()) });
            assert_eq!(taken, 3);
            // Made ahead: the three taken, two waiting, one blocked when the channel closed.
            assert!((3..=6).contains(&made), "{made}");
        }
    }

    #[test]
    fn a_maker_that_fails_ends_after_the_pages_it_made() {
        let mut made = 0;
        let mut taken = Vec::new();
        let result = pages::<u32, &str>(
            &mut || {
                made += 1;
                if made == 4 {
                    Err("the log is damaged")
                } else {
                    Ok(Some(made))
                }
            },
            &mut |page| {
                taken.push(page);
                Ok(true)
            },
        );
        assert_eq!(result, Err("the log is damaged"));
        assert_eq!(taken, [1, 2, 3]);
    }
}
