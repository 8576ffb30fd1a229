package cache

import "time"

// SetNow makes c read the time from now, for the tests of expiry.
func SetNow(c *Cache, now func() time.Time) { c.now = now }
