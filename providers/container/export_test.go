package container

// SetHook makes every later plug call hook before each step (see Steps);
// an error fails the step, ErrCrash stops the plug there without undo.
func (p *Provider) SetHook(hook func(step string) error) {
	if hook == nil {
		p.hook.Store(nil)
		return
	}
	p.hook.Store(&hook)
}

// ErrCrash is errCrash, for tests.
var ErrCrash = errCrash
