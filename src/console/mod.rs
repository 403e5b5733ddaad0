//! The support console at `/console`: server-rendered Korean pages where support agents find a
//! shopper's payment, see why it failed and send the help that fits, and admins cancel, resolve what
//! paydesk flagged and read the audit log. It owns the console's people and roles, its login,
//! sessions and CSRF tokens (`auth`), its pages (`view`, `pages`) and the `paydesk console user`
//! commands (`users`). Every query is in `store::console`; money moves only through
//! `CheckoutService` (the API's cancel, with the API's idempotency keys) and webhooks through
//! `WebhookService`. All state (sessions, login throttle, audit log) is in the database, so any
//! number of instances serve one console.

mod auth;
mod pages;
mod users;
mod view;

use poem::{Route, get, post};

use crate::store::console::Role;

pub(crate) use users::{add_user, disable_user, list_users, reset_password};

/// What a console user may do. The one table of who may do what is `allows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permission {
    /// Find and open payments, copy help, add notes.
    LookUp,
    /// Cancel or refund, fully or partly.
    Cancel,
    /// Mark a flagged payment or Noti as settled by a person.
    Resolve,
    /// Send a webhook again.
    Redeliver,
    /// Read and export the audit log.
    ViewAudit,
}

impl Permission {
    pub(crate) fn allows(self, role: Role) -> bool {
        match self {
            Permission::LookUp => true,
            Permission::Cancel
            | Permission::Resolve
            | Permission::Redeliver
            | Permission::ViewAudit => role == Role::Admin,
        }
    }
}

/// The console's routes, to nest at `/console`.
pub(crate) fn routes() -> Route {
    Route::new()
        .at("/", get(pages::home))
        .at("/login", get(pages::login_form).post(pages::login))
        .at("/logout", post(pages::logout))
        .at("/logout-everywhere", post(pages::logout_everywhere))
        .at("/payments", get(pages::search))
        .at("/payments/:id", get(pages::payment))
        .at("/payments/:id/cancel", post(pages::cancel))
        .at("/payments/:id/note", post(pages::note))
        .at("/payments/:id/resolve", post(pages::resolve_payment))
        .at("/payments/:id/redeliver", post(pages::redeliver))
        .at("/flags", get(pages::flags))
        .at("/notis/:id/resolve", post(pages::resolve_noti))
        .at("/analytics", get(pages::analytics))
        .at("/audit", get(pages::audit))
        .at("/audit.csv", get(pages::audit_csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_move_money_or_resolve() {
        for p in [
            Permission::Cancel,
            Permission::Resolve,
            Permission::Redeliver,
            Permission::ViewAudit,
        ] {
            assert!(p.allows(Role::Admin) && !p.allows(Role::Agent), "{p:?}");
        }
        assert!(Permission::LookUp.allows(Role::Agent));
    }
}
