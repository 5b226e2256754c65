//! Removing containers, including from a thread that has no async runtime.

use std::sync::Arc;

use bollard::query_parameters::RemoveContainerOptions;
use bollard::Docker;

use super::connect::Connector;
use super::errors::{map_error, Ctx};
use crate::runtime::{BlockingRemover, ContainerId, RuntimeError};

/// Removes `id` (and its anonymous volumes). A removal the engine is already
/// doing (auto-remove, a concurrent drop) counts as success.
pub(super) async fn remove_with(
    docker: &Docker,
    id: &ContainerId,
    force: bool,
    endpoint: &str,
) -> Result<(), RuntimeError> {
    let options = RemoveContainerOptions {
        force,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id.as_str(), Some(options)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) if message.contains("already in progress") => Ok(()),
        Err(e) => Err(map_error(
            e,
            &Ctx::container("remove", id.as_str(), endpoint),
        )),
    }
}

/// Force-removes containers on the calling thread with a client and a
/// single-threaded async runtime of its own, so it works while (or after)
/// the runtime that created the container shuts down.
#[derive(Debug)]
pub(super) struct DockerRemover {
    connector: Arc<Connector>,
}

impl DockerRemover {
    /// A remover for the daemon `connector` reaches.
    pub(super) fn new(connector: Arc<Connector>) -> Self {
        Self { connector }
    }
}

impl BlockingRemover for DockerRemover {
    fn remove_blocking(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let failed = |message: String| RuntimeError::CleanupFailed {
            id: id.to_string(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start a cleanup runtime: {e}")))?;
        runtime.block_on(async {
            let docker = self.connector.client()?;
            match remove_with(&docker, id, true, &self.connector.endpoint_for_display()).await {
                Err(e) if e.is_no_such_container() => Ok(()),
                other => other,
            }
        })
    }
}
