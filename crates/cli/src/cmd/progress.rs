//! A progress line on a terminal for work that can take more than a second (`diff`, `lint`):
//! after one second, standard error shows `moat diff: working, 3.2 s` until the work ends, then
//! the line is erased. Nothing is printed when standard error is not a terminal.

use std::io::{IsTerminal as _, Write as _};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running progress line; dropping it stops and erases it.
pub(crate) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Nothing is shown for work shorter than this.
const QUIET: Duration = Duration::from_secs(1);
/// How often the elapsed time is updated.
const EVERY: Duration = Duration::from_millis(250);

impl Ticker {
    /// Starts the progress line for `what` (`diff`, `lint`) when standard error is a terminal.
    pub(crate) fn start(what: &'static str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                stop: None,
                thread: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let mut shown = false;
                let mut wait = QUIET;
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(wait) {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[Kmoat {what}: working, {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    let _ = err.flush();
                    shown = true;
                    wait = EVERY;
                }
                if shown {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[K");
                    let _ = err.flush();
                }
            })
            .ok();
        Self {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
