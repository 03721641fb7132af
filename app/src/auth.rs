//! The signed-in user, for every page: one resource read from `/api/auth/me`, provided as context by
//! [`provide_current_user`] in `App`.
//!
//! The server checks every request against the permission matrix (`wire::Role::allows`); pages use
//! [`can`] only to hide what the user's role may not do. Read [`can`] and [`current_user`] inside a
//! `Suspense` or `Transition` (as every data part of a page is): the server then waits for the user
//! before rendering, and the browser hydrates with the same answer.

use leptos::prelude::*;

use crate::client::{self, ApiFailure};
use crate::wire::{CurrentUser, Permission};

/// The resource holding the signed-in user.
#[derive(Clone, Copy)]
pub struct Me(pub Resource<Result<CurrentUser, ApiFailure>>);

/// Reads `/api/auth/me` once per page load and provides it as [`Me`].
pub fn provide_current_user() {
    let me = Resource::new(|| (), |_| client::get::<CurrentUser>("/api/auth/me"));
    provide_context(Me(me));
}

/// The signed-in user once known (`None` while loading, or when the answer failed).
pub fn current_user() -> Signal<Option<CurrentUser>> {
    let me = use_context::<Me>();
    Signal::derive(move || me.and_then(|Me(resource)| resource.get()).and_then(Result::ok))
}

/// Whether the signed-in user's role allows `permission`; false until the user is known.
pub fn can(permission: Permission) -> Signal<bool> {
    let user = current_user();
    Signal::derive(move || user.get().is_some_and(|user| user.can(permission)))
}
