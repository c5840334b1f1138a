package reconciler

import "github.com/wirekeeper/wirekeeper/spec"

type specObject = spec.Object
