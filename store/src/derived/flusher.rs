//! The flusher thread: writes a frozen layer of derived changes to sled while the writer
//! goes on deciding and appending, so a flush never stalls appends.
//!
//! At most one layer is frozen at a time: freezing the next waits for the one before
//! it, which bounds the memory held in layers to two of them.

use crate::derived::overlay::Trees;
use crate::error::{Error, Result};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

pub(crate) struct Flusher {
    view: Trees,
    start: Option<SyncSender<()>>,
    done: Receiver<Result<()>>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub(crate) fn start(view: Trees) -> Result<Self> {
        let (start, started) = sync_channel::<()>(1);
        let (finished, done) = sync_channel(1);
        let flushing = view.clone();
        let thread = std::thread::Builder::new()
            .name("lineage-flusher".into())
            .spawn(move || {
                for () in started {
                    if finished.send(flushing.write_frozen()).is_err() {
                        break;
                    }
                }
            })
            .map_err(|error| Error::Poisoned(format!("starting the flusher thread failed: {error}")))?;
        Ok(Self {
            view,
            start: Some(start),
            done,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Freezes what is layered (bringing the trees up to seq `through`) and has it
    /// written in the background, once the layer frozen before is written.
    pub(crate) fn begin(&mut self, through: u64) -> Result<()> {
        self.wait()?;
        if self.view.freeze(through) {
            self.start
                .as_ref()
                .expect("the flusher runs until dropped")
                .send(())
                .map_err(|_| Error::Poisoned("the flusher thread stopped".into()))?;
            self.in_flight = true;
        }
        Ok(())
    }

    /// Waits until the layer handed over last is in sled.
    pub(crate) fn wait(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.in_flight) {
            return Ok(());
        }
        self.done
            .recv()
            .map_err(|_| Error::Poisoned("the flusher thread stopped".into()))?
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let _ = self.wait();
        drop(self.start.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
