# shellcheck shell=bash
# Starts the local PostgreSQL server and exports SESSIONCAST_TEST_PG, the URL the PostgreSQL tests
# use (they create and drop a database of their own per test). Source it, then run the tests:
#
#   source scripts/pg-test-setup.sh && cargo test
#
# Needs root or sudo (it starts the cluster and creates the role as the `postgres` user). It:
# 1. installs PostgreSQL (`postgresql-15`, else `postgresql`) when it is missing, under CI=true or
#    as root (elsewhere it says what to install);
# 2. starts the cluster `main` (`pg_ctlcluster --skip-systemctl-redirect VERSION main start`; one
#    already running is left as it is) and waits until it accepts connections (`pg_isready`);
# 3. creates the role (default `sessioncast`, LOGIN CREATEDB) or updates it, with a fresh random
#    password that goes to the server on stdin and into the variable only: never printed, never in
#    argv, never in a file;
# 4. exports SESSIONCAST_TEST_PG=postgres://ROLE:PASSWORD@127.0.0.1:PORT/postgres (password
#    authentication over TCP, as the Debian default pg_hba.conf requires).
#
# A variable already set is kept as it is (a server of your own). Settings: SESSIONCAST_PG_ROLE
# (default sessioncast), SESSIONCAST_PG_VERSION (default: 15 if installed, else the newest),
# SESSIONCAST_PG_PORT (default 5432). Under CI=true every failure is fatal (the PostgreSQL tests
# must not be skipped there); elsewhere a failure leaves the variable unset and the PostgreSQL
# tests print a skip line.

sessioncast_pg_setup() {
    local role="${SESSIONCAST_PG_ROLE:-sessioncast}"
    local port="${SESSIONCAST_PG_PORT:-5432}"
    local version="${SESSIONCAST_PG_VERSION:-}"
    local say="pg-test-setup:"

    if [ -n "${SESSIONCAST_TEST_PG:-}" ]; then
        echo "$say SESSIONCAST_TEST_PG is already set; using that server" >&2
        return 0
    fi
    case "$role" in
        *[!a-z0-9_]* | "") echo "$say SESSIONCAST_PG_ROLE must be lowercase letters, digits and _" >&2; return 1 ;;
    esac

    # Run a command as the `postgres` system user.
    as_postgres() {
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$@"
        else
            sudo -n -u postgres -- "$@"
        fi
    }

    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
        if [ "${CI:-}" = true ] || [ "$(id -u)" = 0 ]; then
            echo "$say PostgreSQL is not installed; installing it" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2 || return 1
            apt-get install -y -qq postgresql-15 >&2 || apt-get install -y -qq postgresql >&2 || return 1
        else
            echo "$say PostgreSQL is not installed: sudo apt-get install postgresql-15 (or postgresql)" >&2
            return 1
        fi
    fi
    if [ -z "$version" ]; then
        if [ -d /usr/lib/postgresql/15 ]; then
            version=15
        else
            version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
        fi
    fi
    if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
        echo "$say creating cluster $version/main" >&2
        pg_createcluster --port "$port" "$version" main >&2 || return 1
    fi
    if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -qx online; then
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 ||
            pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -qx online ||
            return 1
    fi
    local i
    for i in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 0.5
    done
    if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
        echo "$say PostgreSQL $version does not accept connections on 127.0.0.1:$port" >&2
        return 1
    fi

    local pw
    pw="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    # The password travels on stdin: `ps` shows psql's argv to every user of the machine.
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres >/dev/null <<SQL || return 1
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE $role WITH LOGIN CREATEDB PASSWORD '$pw';
SQL
    export SESSIONCAST_TEST_PG="postgres://$role:$pw@127.0.0.1:$port/postgres"
    echo "$say PostgreSQL $version ready on 127.0.0.1:$port; SESSIONCAST_TEST_PG set for role $role (password not shown)" >&2
}

if ! sessioncast_pg_setup; then
    if [ "${CI:-}" = true ]; then
        echo "pg-test-setup: failed, and CI=true needs PostgreSQL for the tests" >&2
        # Sourced: stop the caller (.ci/run runs with `set -e`); executed: exit.
        return 1 2>/dev/null || exit 1
    fi
    echo "pg-test-setup: no PostgreSQL; the PostgreSQL tests will be skipped" >&2
fi
unset -f sessioncast_pg_setup as_postgres
