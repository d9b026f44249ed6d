//! `both_stores!`: one test body, run on SQLite and on PostgreSQL. (The `citus` test target
//! defines its own macros of these names, which run the same bodies on Citus:
//! tests/citus/on_citus.rs.)

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

/// `each_store!(name, …)`: `mod name { on_sqlite, on_postgres }` around an
/// `async fn name(backend: Backend)` of the enclosing module, for bodies that build their own
/// apps.
#[macro_export]
macro_rules! each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// `server_stores!(name, …)`: like [`each_store!`], on PostgreSQL only — for several
/// `tally serve` processes on one database, which a SQLite file does not allow.
#[macro_export]
macro_rules! server_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}
