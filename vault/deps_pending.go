// Imports of dependencies whose code is being written now (Redis cache);
// delete this file once real code imports them.

package vault

import (
	_ "github.com/bsm/redislock"
)
