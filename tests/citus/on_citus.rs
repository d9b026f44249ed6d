//! `both_stores!` of this target: the bodies `tests/api` runs on SQLite and PostgreSQL, run on
//! Citus instead (`name::on_citus`).

/// Declares a test body once and runs it on the Citus cluster:
/// `both_stores! { async fn name(app) { ... } }` → `name::on_citus`.
#[macro_export]
macro_rules! both_stores {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_citus() {
                    body($crate::helpers::spawn_app($crate::helpers::Backend::Citus).await).await
                }
            }
        )*
    };
}
