//! `SandboxPaginator` and `SnapshotPaginator`: one page per `nextItems()`.

use crate::convert::{parse_json, rejected, run};
use js_sys::Promise;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Pages through sandboxes. `hasNext` is true until a page comes without a next token.
#[wasm_bindgen]
pub struct SandboxPaginator {
    // Shared with the page request in flight, which puts the advanced paginator back. Never
    // borrowed across an `.await`, so the getters can be read while a page is on its way.
    inner: Rc<RefCell<sandkit::SandboxPaginator>>,
}

impl SandboxPaginator {
    pub fn new(inner: sandkit::SandboxPaginator) -> Self {
        SandboxPaginator {
            inner: Rc::new(RefCell::new(inner)),
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

    #[wasm_bindgen(getter = nextToken, unchecked_return_type = "string | undefined")]
    pub fn next_token(&self) -> JsValue {
        let p = self.inner.try_borrow();
        crate::sandbox::opt_str(p.as_ref().ok().and_then(|p| p.next_token()))
    }

    /// Fetches the next page; throws once there are no more.
    #[wasm_bindgen(js_name = nextItems, unchecked_return_type = "Promise<SandboxInfo[]>")]
    pub fn next_items(&self) -> Promise {
        next_page(
            &self.inner,
            |p| p.next_items_json(),
            |items| parse_json(&items),
        )
    }
}

/// The next page of the paginator in `slot`: asked for by `request`, which gives the advanced
/// paginator (put back in `slot`) and the page's items (made JavaScript by `items`).
fn next_page<P: 'static, T: 'static>(
    slot: &Rc<RefCell<P>>,
    request: impl FnOnce(&P) -> sandkit::Op<(P, T)>,
    items: impl FnOnce(T) -> sandkit::Result<JsValue> + 'static,
) -> Promise {
    // No borrow is held while the page is on its way, so these never fail; `try_` keeps even
    // the impossible case from trapping.
    let Ok(op) = slot.try_borrow().map(|p| request(&p)) else {
        return rejected(busy());
    };
    let slot = Rc::clone(slot);
    run(op.then(move |page| {
        let (p, page) = page?;
        *slot.try_borrow_mut().map_err(|_| busy())? = p;
        items(page)
    }))
}

/// A `SnapshotInfo` object: `{ snapshotId, names }`.
pub fn snapshot_object(info: sandkit::SnapshotInfo) -> JsValue {
    let obj = js_sys::Object::new();
    let names = crate::convert::array_of(info.names, |n| JsValue::from_str(&n));
    js_sys::Reflect::set(&obj, &"snapshotId".into(), &info.snapshot_id.into()).ok();
    js_sys::Reflect::set(&obj, &"names".into(), &names).ok();
    obj.into()
}

/// Pages through snapshots, newest first. `hasNext` is true until a page comes without a
/// next token.
#[wasm_bindgen]
pub struct SnapshotPaginator {
    // Replaced by the advanced copy when a page has come; never borrowed across an `.await`.
    inner: Rc<RefCell<sandkit::SnapshotPaginator>>,
}

impl SnapshotPaginator {
    pub fn new(inner: sandkit::SnapshotPaginator) -> Self {
        SnapshotPaginator {
            inner: Rc::new(RefCell::new(inner)),
        }
    }
}

#[wasm_bindgen]
impl SnapshotPaginator {
    #[wasm_bindgen(getter = hasNext)]
    pub fn has_next(&self) -> bool {
        self.inner.try_borrow().is_ok_and(|p| p.has_next())
    }

    #[wasm_bindgen(getter = nextToken, unchecked_return_type = "string | undefined")]
    pub fn next_token(&self) -> JsValue {
        let p = self.inner.try_borrow();
        crate::sandbox::opt_str(p.as_ref().ok().and_then(|p| p.next_token()))
    }

    /// Fetches the next page; throws once there are no more.
    #[wasm_bindgen(js_name = nextItems, unchecked_return_type = "Promise<SnapshotInfo[]>")]
    pub fn next_items(&self) -> Promise {
        next_page(
            &self.inner,
            |p| p.next_page(),
            |items| Ok(crate::convert::array_of(items, snapshot_object)),
        )
    }
}
