// Imports of dependencies whose code is being written now (PostgreSQL store,
// Redis cache); delete this file once real code imports them.

package vault

import (
	_ "github.com/bsm/redislock"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/redis/go-redis/v9"
)
