//! `SandboxPaginator`: one page per `nextItems()`.

use crate::convert::{info_object, js_error};
use js_sys::Array;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// Pages through sandboxes. `hasNext` is true until a page comes without a next token.
#[wasm_bindgen]
pub struct SandboxPaginator {
    // Never borrowed across an `.await`: a fetch works on a copy that is put back afterwards,
    // so the getters can be read while a page is on its way.
    inner: RefCell<sandkit::SandboxPaginator>,
}

impl SandboxPaginator {
    pub fn new(inner: sandkit::SandboxPaginator) -> Self {
        SandboxPaginator {
            inner: RefCell::new(inner),
        }
    }
}

fn busy() -> sandkit::Error {
    sandkit::Error::new(
        sandkit::ErrorKind::Sandbox,
        "internal error in sandkit (a bug): the paginator is in use",
    )
}

#[wasm_bindgen]
impl SandboxPaginator {
    #[wasm_bindgen(getter = hasNext)]
    pub fn has_next(&self) -> bool {
        self.inner.try_borrow().is_ok_and(|p| p.has_next())
    }

    #[wasm_bindgen(getter = nextToken)]
    pub fn next_token(&self) -> Option<String> {
        let p = self.inner.try_borrow().ok()?;
        p.next_token().map(str::to_string)
    }

    /// Fetches the next page; throws once there are no more.
    #[wasm_bindgen(js_name = nextItems, unchecked_return_type = "SandboxInfo[]")]
    pub async fn next_items(&self) -> Result<Array, JsError> {
        // No borrow is ever held across an `.await`, so these never fail; `try_` keeps even
        // the impossible case from panicking.
        let Ok(mut p) = self.inner.try_borrow().map(|p| p.clone()) else {
            return Err(js_error(busy()));
        };
        let items = p.next_items().await;
        match self.inner.try_borrow_mut() {
            Ok(mut slot) => *slot = p,
            Err(_) => return Err(js_error(busy())),
        }
        Ok(items
            .map_err(js_error)?
            .into_iter()
            .map(info_object)
            .collect())
    }
}
