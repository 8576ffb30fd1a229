package oauth

// InlineKeySetParses is how many inline key sets p has parsed.
func InlineKeySetParses(p *Provider) int64 { return p.inlineKeys.parses.Load() }
