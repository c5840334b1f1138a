package container

// SetHook makes every later plug call hook before each step (see Steps);
// an error fails the step, ErrCrash stops the plug there without undo.
func (p *Provider) SetHook(hook func(step string) error) { p.hook = hook }

// ErrCrash is errCrash, for tests.
var ErrCrash = errCrash
