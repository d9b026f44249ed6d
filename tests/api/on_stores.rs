//! `both_stores!`: one test body, run on SQLite and on PostgreSQL. (The `citus` test target
//! defines its own, which runs the same bodies on Citus: tests/citus/on_citus.rs.)

/// Declares a test body once and runs it on both stores:
/// `both_stores! { async fn name(app) { ... } }` → `name::on_sqlite`, `name::on_postgres`.
/// `both_stores! { spawn = path::to::spawn; async fn … }` builds each app with that function
/// (`async fn(Backend) -> TestApp`) instead of `helpers::spawn_app`.
#[macro_export]
macro_rules! both_stores {
    (spawn = $spawn:path; $(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    body($spawn($crate::helpers::Backend::Sqlite).await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    body($spawn($crate::helpers::Backend::Postgres).await).await
                }
            }
        )*
    };
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $crate::both_stores! { spawn = $crate::helpers::spawn_app; $(async fn $name($app) $body)* }
    };
}
