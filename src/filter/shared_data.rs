//! `SharedStore` over the proxy's shared data. Envoy keys shared data by
//! `vm_id`, so the service VM and the HTTP filter VMs see the same values only
//! when their `vm_config` names the same `vm_id`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use crate::source::{SharedStore, StoreError};

pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        hostcalls::get_shared_data(key).map_err(|status| host_error(key, status))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(StoreError::CasMismatch),
            Err(status) => Err(host_error(key, status)),
        }
    }
}

fn host_error(key: &str, status: Status) -> StoreError {
    StoreError::Host(format!("shared data key {key}: {status:?}"))
}
