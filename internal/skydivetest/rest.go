package skydivetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// routes is the handler of the server of generation gen: the publisher
// websocket and the REST API, all behind authentication except /login.
func (a *Analyzer) routes(gen uint64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/publisher", a.servePublisher(gen))
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /api/topology", a.getTopology)
	mux.HandleFunc("POST /api/topology", a.queryTopology)
	mux.HandleFunc("GET /api/status", a.getStatus)
	for _, kind := range []string{"node", "edge"} {
		mux.HandleFunc("GET /api/"+kind, a.listElements(kind))
		mux.HandleFunc("POST /api/"+kind, a.createElement(kind))
		mux.HandleFunc("GET /api/"+kind+"/{id}", a.getElement(kind))
		mux.HandleFunc("PATCH /api/"+kind+"/{id}", a.patchElement(kind))
		mux.HandleFunc("DELETE /api/"+kind+"/{id}", a.deleteElement(kind))
	}
	return a.authenticate(mux)
}

// authenticate lets a request through when there is no auth backend, for
// /login, or with valid credentials: Basic, an authtoken cookie or an
// X-Auth-Token header from /login. Anything else is answered 401.
func (a *Analyzer) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Users == nil || r.URL.Path == "/login" {
			next.ServeHTTP(w, r)
			return
		}
		why := a.credentialsProblem(r)
		if why == "" {
			next.ServeHTTP(w, r)
			return
		}
		a.mu.Lock()
		a.logf("401 unauthorized: %s %s from %s: %s", r.Method, r.URL.Path, r.RemoteAddr, why)
		a.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="skydive"`)
		http.Error(w, "401 unauthorized", http.StatusUnauthorized)
	})
}

// credentialsProblem says what is wrong with r's credentials, "" if
// nothing.
func (a *Analyzer) credentialsProblem(r *http.Request) string {
	if user, pass, ok := r.BasicAuth(); ok {
		if want, known := a.opts.Users[user]; known && want == pass {
			return ""
		}
		return fmt.Sprintf("wrong basic credentials for %q", user)
	}
	token, from := tokenOf(r)
	if from == "" {
		return "no credentials"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.tokens[token]
	switch {
	case !ok:
		return "unknown token in " + from
	case !t.expires.IsZero() && !time.Now().Before(t.expires):
		return "expired token in " + from
	}
	return ""
}

// tokenOf returns the login token r carries and where: the authtoken
// cookie, else the X-Auth-Token header; from is "" without one.
func tokenOf(r *http.Request) (token, from string) {
	if c, err := r.Cookie("authtoken"); err == nil {
		return c.Value, "authtoken cookie"
	}
	if h := r.Header.Get("X-Auth-Token"); h != "" {
		return h, "X-Auth-Token"
	}
	return "", ""
}

// user is the user r authenticated as, "" without an auth backend. Call it
// only on requests authenticate let through.
func (a *Analyzer) user(r *http.Request) string {
	if a.opts.Users == nil {
		return ""
	}
	if user, _, ok := r.BasicAuth(); ok {
		return user
	}
	token, _ := tokenOf(r)
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.tokens[token]; ok {
		return t.user
	}
	return ""
}

// loginToken is a token POST /login issued.
type loginToken struct {
	user    string
	expires time.Time // zero: never
}

// login checks the form fields username and password and sets the
// authtoken cookie, valid for Options.TokenTTL. Without an auth backend
// any user is let in.
func (a *Analyzer) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "skydivetest: login: "+err.Error(), http.StatusBadRequest)
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	if want, known := a.opts.Users[user]; a.opts.Users != nil && (!known || want != pass) {
		a.mu.Lock()
		a.logf("401 unauthorized: login of %q from %s: wrong credentials", user, r.RemoteAddr)
		a.mu.Unlock()
		http.Error(w, "401 unauthorized", http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	t := &loginToken{user: user}
	if a.opts.TokenTTL > 0 {
		t.expires = time.Now().Add(a.opts.TokenTTL)
	}
	a.mu.Lock()
	a.tokens[token] = t
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "authtoken", Value: token, Path: "/"})
	w.WriteHeader(http.StatusOK)
}

func (a *Analyzer) getTopology(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	t := Topology{Nodes: a.g.nodeList(nil), Edges: a.g.edgeList(nil)}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, t)
}

// queryTopology answers {"GremlinQuery": q} with the JSON array of the
// matching nodes or edges (see gremlin.go), or 400 saying why q was not
// understood. An empty query is the whole topology.
func (a *Analyzer) queryTopology(w http.ResponseWriter, r *http.Request) {
	var body struct{ GremlinQuery string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "skydivetest: topology: invalid body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if body.GremlinQuery == "" {
		a.getTopology(w, r)
		return
	}
	steps, err := parseGremlin(body.GremlinQuery)
	if err != nil {
		http.Error(w, fmt.Sprintf("skydivetest: gremlin: %q: %v", body.GremlinQuery, err), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	res, err := a.g.query(steps)
	a.mu.Unlock()
	if err != nil {
		http.Error(w, fmt.Sprintf("skydivetest: gremlin: %q: %v", body.GremlinQuery, err), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// getStatus lists the live publishers like the analyzer's status does:
// {"Publishers": {hostID: Publisher}}.
func (a *Analyzer) getStatus(w http.ResponseWriter, r *http.Request) {
	pubs := map[string]Publisher{}
	for _, p := range a.Publishers() {
		pubs[p.HostID] = p
	}
	writeJSON(w, http.StatusOK, map[string]any{"HostID": HostID, "Publishers": pubs})
}

func (a *Analyzer) listElements(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if kind == "node" {
			out := map[string]Node{}
			for _, n := range a.g.nodeList(nil) {
				out[n.ID] = n
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		out := map[string]Edge{}
		for _, e := range a.g.edgeList(nil) {
			out[e.ID] = e
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *Analyzer) getElement(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if v, ok := a.lookupLocked(kind, r.PathValue("id")); ok {
			writeJSON(w, http.StatusOK, v)
			return
		}
		http.Error(w, kind+" not found", http.StatusNotFound)
	}
}

// createElement adds the element of the body, decoded as the analyzer
// decodes elements (metadata decoders, missing times are now), under the
// add rules (schema, existing ID, missing parent or child), keeping its
// Origin.
func (a *Analyzer) createElement(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "skydivetest: "+kind+": "+err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		var id string
		if kind == "node" {
			var n Node
			if n, _, err = parseNode(body); err == nil {
				id = n.ID
				if err = checkNode(n.Metadata); err == nil {
					err = a.g.addNode(n)
				}
			}
		} else {
			var e Edge
			if e, _, err = parseEdge(body); err == nil {
				id = e.ID
				if err = checkEdge(e.Metadata); err == nil {
					err = a.g.addEdge(e)
				}
			}
		}
		a.answer(w, r, kind, id, err)
	}
}

// patchElement applies a JSON Patch (RFC 6902: add, replace, remove) to
// the Metadata of an element; the result goes through the metadata
// decoders and the schema, then replaces the element's metadata with the
// next revision.
func (a *Analyzer) patchElement(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ops []patchOp
		if err := json.NewDecoder(r.Body).Decode(&ops); err != nil {
			http.Error(w, "skydivetest: patch: invalid body: "+err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		id := r.PathValue("id")
		v, ok := a.lookupLocked(kind, id)
		if !ok {
			http.Error(w, kind+" not found", http.StatusNotFound)
			return
		}
		var md map[string]any
		switch v := v.(type) {
		case Node:
			md = v.Metadata
		case Edge:
			md = v.Metadata
		}
		md, err := patchMetadata(md, ops)
		if err == nil {
			md, err = redecode(kind, md)
		}
		if err == nil && kind == "node" {
			err = checkNode(md)
		} else if err == nil {
			err = checkEdge(md)
		}
		if err == nil {
			err = a.g.setMetadata(kind, id, md)
		}
		a.answer(w, r, kind, id, err)
	}
}

// redecode passes metadata changed by a patch through the decoding a new
// element gets.
func redecode(kind string, md map[string]any) (map[string]any, error) {
	raw := map[string]json.RawMessage{}
	for k, v := range md {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata %s: %v", errParse, k, err)
		}
		raw[k] = b
	}
	if kind == "node" {
		return decodeMetadata(raw)
	}
	return decodeGeneric(raw)
}

func (a *Analyzer) deleteElement(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		id := r.PathValue("id")
		var err error
		if kind == "node" {
			err = a.g.delNode(id, "REST", nowMS(), nil)
		} else {
			err = a.g.delEdge(id, "REST", nowMS(), nil)
		}
		if err != nil {
			http.Error(w, kind+" not found", http.StatusNotFound)
			return
		}
		a.notifyLocked()
		w.WriteHeader(http.StatusOK)
	}
}

// answer ends a create or patch: the stored element, or the error with its
// status (logged like a dropped message).
func (a *Analyzer) answer(w http.ResponseWriter, r *http.Request, kind, id string, err error) {
	if err != nil {
		a.dropped("rest", r.Method+" /api/"+kind, id, err)
		http.Error(w, fmt.Sprintf("skydivetest: %s %s: %v", kind, id, err), statusOf(err))
		return
	}
	a.notifyLocked()
	v, _ := a.lookupLocked(kind, id)
	writeJSON(w, http.StatusOK, v)
}

func (a *Analyzer) lookupLocked(kind, id string) (any, bool) {
	if kind == "node" {
		if n, ok := a.g.nodes[id]; ok {
			return n.clone(), true
		}
	} else if e, ok := a.g.edges[id]; ok {
		return e.clone(), true
	}
	return nil, false
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, errReAdd):
		return http.StatusConflict
	case errors.Is(err, errNodeNotFound), errors.Is(err, errEdgeNotFound):
		return http.StatusNotFound
	default: // schema, no ID, missing parent or child, bad JSON or patch
		return http.StatusBadRequest
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "skydivetest: cannot encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}
