//! The stop signal every connection task watches.

use std::future::Future;
use std::pin::{pin, Pin};

use tokio::sync::watch;

/// Resolves once the stand-in is told to stop, or once its handle is gone.
#[derive(Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A sender to signal with and the receiving side.
    pub(crate) fn channel() -> (watch::Sender<bool>, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (sender, Shutdown(receiver))
    }

    /// Waits for the stop signal (a dropped sender counts as one).
    pub(crate) async fn requested(&mut self) {
        // `Err` means the sender is gone: that is a stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Drives a hyper connection; on the stop signal asks it to finish
/// gracefully (no new requests, in-flight ones complete) and waits for that.
pub(crate) async fn drive<C, T>(
    connection: C,
    graceful: impl FnOnce(Pin<&mut C>),
    shutdown: &mut Shutdown,
) -> T
where
    C: Future<Output = T>,
{
    let mut connection = pin!(connection);
    tokio::select! {
        done = connection.as_mut() => return done,
        () = shutdown.requested() => {}
    }
    graceful(connection.as_mut());
    connection.await
}
