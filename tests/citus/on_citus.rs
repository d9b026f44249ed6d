//! The test-declaring macros of `tests/api/on_stores.rs` under the same names, running the
//! same bodies on Citus instead (`name::on_citus`).

/// `both_stores! { [spawn = path;] async fn name(app) { ... } }` → `name::on_citus`.
#[macro_export]
macro_rules! both_stores {
    (spawn = $spawn:path; $(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_citus() {
                    body($spawn($crate::helpers::Backend::Citus).await).await
                }
            }
        )*
    };
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $crate::both_stores! { spawn = $crate::helpers::spawn_app; $(async fn $name($app) $body)* }
    };
}

/// `each_store!(name, …)` → `name::on_citus`, calling `name(Backend::Citus)`.
#[macro_export]
macro_rules! each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_citus() {
                super::$name($crate::helpers::Backend::Citus).await
            }
        }
    )*};
}

/// `server_stores!(name, …)` → `name::on_citus`: several processes on the cluster.
#[macro_export]
macro_rules! server_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_citus() {
                super::$name($crate::helpers::Backend::Citus).await
            }
        }
    )*};
}
