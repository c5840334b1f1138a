package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// settings returns the WIREKEEPER_* variables and config-file keys of
// `wirekeeper run`, read from its --help.
func settings(t *testing.T) (envs, keys map[string]bool) {
	t.Helper()
	out, err := exec.Command("go", "run", "../cmd/wirekeeper", "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("wirekeeper run --help: %v\n%s", err, out)
	}
	envs, keys = map[string]bool{}, map[string]bool{}
	line := regexp.MustCompile(`^\s+--\S+.*?\s(WIREKEEPER_[A-Z_]+)(?:, (\w+):)?`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			envs[m[1]] = true
			if m[2] != "" {
				keys[m[2]] = true
			}
		}
	}
	if !envs["WIREKEEPER_REPO"] || !keys["metricsListen"] {
		t.Fatalf("could not read the settings from:\n%s", out)
	}
	return envs, keys
}

// exampleSecrets returns what the example specs name: the variables of
// their {env: ...} secrets and the files of their {file: ...} secrets and
// tls: blocks, which the deployment must provide.
func exampleSecrets(t *testing.T) (envs, files map[string]bool) {
	t.Helper()
	envs, files = map[string]bool{}, map[string]bool{}
	envRE := regexp.MustCompile(`\{env: (\w+)\}`)
	fileRE := regexp.MustCompile(`(?:\{file: |(?:caFile|certFile|keyFile): )([\w./-]+)`)
	err := filepath.Walk("../examples", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		b, err := os.ReadFile(p)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			for _, m := range envRE.FindAllStringSubmatch(l, -1) {
				envs[m[1]] = true
			}
			for _, m := range fileRE.FindAllStringSubmatch(l, -1) {
				files[m[1]] = true
			}
		}
		return err
	})
	if err != nil || len(envs) == 0 || len(files) == 0 {
		t.Fatalf("reading the examples' secrets: %v (env %v, files %v)", err, envs, files)
	}
	return envs, files
}

// under reports whether path p lies inside dir (lexically).
func under(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

type manifests struct {
	daemonSets  []appsv1.DaemonSet
	deployments []appsv1.Deployment
	configMaps  []corev1.ConfigMap
	secrets     map[string]corev1.Secret // by name
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in kubernetes/")
	}
	m := manifests{secrets: map[string]corev1.Secret{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var doc map[string]any
			if err := d.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			raw, _ := yaml.Marshal(doc)
			strict := func(into any) {
				if err := sigsyaml.UnmarshalStrict(raw, into); err != nil {
					t.Errorf("%s document %d (%s): %v", f, i, doc["kind"], err)
				}
			}
			switch doc["kind"] {
			case "DaemonSet":
				var o appsv1.DaemonSet
				strict(&o)
				m.daemonSets = append(m.daemonSets, o)
			case "Deployment":
				var o appsv1.Deployment
				strict(&o)
				m.deployments = append(m.deployments, o)
			case "ConfigMap":
				var o corev1.ConfigMap
				strict(&o)
				m.configMaps = append(m.configMaps, o)
			case "Secret":
				var o corev1.Secret
				strict(&o)
				m.secrets[o.Name] = o
			case "Namespace":
				var o corev1.Namespace
				strict(&o)
			default:
				t.Errorf("%s document %d: unexpected kind %v", f, i, doc["kind"])
			}
		}
	}
	return m
}

func TestKubernetesManifests(t *testing.T) {
	envs, keys := settings(t)
	specEnvs, specFiles := exampleSecrets(t)
	m := loadManifests(t)
	if len(m.daemonSets) != 1 || len(m.deployments) != 1 || len(m.configMaps) != 1 || len(m.secrets) != 2 {
		t.Fatalf("want one DaemonSet, Deployment and ConfigMap, and two Secrets; got %d %d %d %d", len(m.daemonSets), len(m.deployments), len(m.configMaps), len(m.secrets))
	}
	// The shared config file names only settings wirekeeper has.
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(m.configMaps[0].Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	for k := range cfg {
		if !keys[k] {
			t.Errorf("config.yaml key %q is not a setting of wirekeeper run", k)
		}
	}
	// A Secret key named by the manifests exists in the example Secret
	// (Secrets the examples do not define, such as the OVSDB certificates,
	// are the operator's).
	hasKey := func(secret, key string) bool {
		s, ok := m.secrets[secret]
		_, has := s.StringData[key]
		return !ok || has
	}
	secretsDir, _ := cfg["secretsDir"].(string)
	if secretsDir == "" {
		secretsDir = "/etc/wirekeeper/secrets"
	}
	// The daemon's own credentials are never where specs can name them.
	for _, k := range []string{"sshKeyFile", "knownHostsFile", "webhookSecretFile", "httpsPasswordFile", "verifySignatures"} {
		if p, ok := cfg[k].(string); ok && under(p, secretsDir) {
			t.Errorf("config.yaml %s %s lies in the secrets directory %s: any spec could name it", k, p, secretsDir)
		}
	}
	pods := map[string]corev1.PodSpec{"DaemonSet": m.daemonSets[0].Spec.Template.Spec, "Deployment": m.deployments[0].Spec.Template.Spec}
	for kind, pod := range pods {
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", kind, len(pod.Containers))
		}
		c := pod.Containers[0]
		if !slices.Equal(c.Args[:2], []string{"run", "--config"}) {
			t.Errorf("%s args %v", kind, c.Args)
		}
		for _, e := range c.Env {
			secretEnv := strings.HasPrefix(e.Name, "WIREKEEPER_SECRET_")
			if !envs[e.Name] && !secretEnv {
				t.Errorf("%s env %s is neither a setting nor a secret the specs may name", kind, e.Name)
			}
			if secretEnv && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("%s env %s is a secret given as a value, not from a Secret", kind, e.Name)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !hasKey(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key) {
				t.Errorf("%s env %s refers to a key the Secret lacks", kind, e.Name)
			}
		}
		mounts := map[string]bool{}
		for _, v := range c.VolumeMounts {
			mounts[v.MountPath] = true
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = v
		}
		for _, vm := range c.VolumeMounts {
			v, ok := volumes[vm.Name]
			if !ok {
				t.Errorf("%s mounts volume %s, which is not defined", kind, vm.Name)
				continue
			}
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					if !hasKey(v.Secret.SecretName, it.Key) {
						t.Errorf("%s volume %s names Secret key %s, which the example lacks", kind, v.Name, it.Key)
					}
				}
			}
			if v.Projected != nil {
				for _, src := range v.Projected.Sources {
					if src.Secret == nil {
						continue
					}
					for _, it := range src.Secret.Items {
						if !hasKey(src.Secret.Name, it.Key) {
							t.Errorf("%s volume %s names Secret key %s, which the example lacks", kind, v.Name, it.Key)
						}
					}
				}
			}
		}
		// The secrets directory is mounted and holds nothing the daemon
		// reads for itself.
		secretsVolume, ok := volumes[mountedAt(c.VolumeMounts, secretsDir)]
		if !ok {
			t.Errorf("%s: nothing is mounted at the secrets directory %s", kind, secretsDir)
		}
		for _, vm := range c.VolumeMounts {
			for _, k := range []string{"sshKeyFile", "knownHostsFile", "webhookSecretFile"} {
				if p, ok := cfg[k].(string); ok && under(p, vm.MountPath) && vm.Name == secretsVolume.Name {
					t.Errorf("%s: %s %s comes from the secrets directory's volume", kind, k, p)
				}
			}
		}
		// Every file the config names is mounted.
		for _, k := range []string{"sshKeyFile", "knownHostsFile", "webhookSecretFile", "verifySignatures"} {
			if p, ok := cfg[k].(string); ok && !mounts[filepath.Dir(p)] {
				t.Errorf("%s: %s %s is not under a mounted directory", kind, k, p)
			}
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s probes %+v %+v", kind, c.LivenessProbe, c.ReadinessProbe)
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: the root file system must be read-only and every capability dropped first", kind)
		}
	}
	// The per-node daemon: host network, sockets, node name, capabilities.
	ds := pods["DaemonSet"]
	c := ds.Containers[0]
	if !ds.HostNetwork {
		t.Error("the DaemonSet must use the host network")
	}
	var node *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "WIREKEEPER_NODE" {
			node = &c.Env[i]
		}
	}
	if node == nil || node.ValueFrom == nil || node.ValueFrom.FieldRef == nil || node.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("WIREKEEPER_NODE must come from the downward API's spec.nodeName: %+v", node)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, v := range c.VolumeMounts {
		mounts[v.MountPath] = v
	}
	for _, p := range []string{"/var/run/openvswitch", "/var/run/docker.sock", "/var/run/docker/netns", "/var/cache/wirekeeper"} {
		if _, ok := mounts[p]; !ok {
			t.Errorf("the DaemonSet does not mount %s", p)
		}
	}
	if p := mounts["/var/run/docker/netns"].MountPropagation; p == nil || *p != corev1.MountPropagationHostToContainer {
		t.Error("Docker's netns directory needs HostToContainer propagation, or namespaces made later are not seen")
	}
	// The DaemonSet gives every daemon what the example specs name.
	dsEnv := map[string]bool{}
	for _, e := range c.Env {
		dsEnv[e.Name] = true
	}
	for e := range specEnvs {
		if !dsEnv[e] {
			t.Errorf("the example specs read {env: %s}, which the DaemonSet does not set", e)
		}
	}
	dsFiles := map[string]bool{}
	for _, v := range ds.Volumes {
		if v.Name == mountedAt(c.VolumeMounts, "/etc/wirekeeper/secrets") && v.Projected != nil {
			for _, src := range v.Projected.Sources {
				for _, it := range src.Secret.Items {
					dsFiles[it.Path] = true
				}
			}
		}
	}
	for f := range specFiles {
		if !dsFiles[f] {
			t.Errorf("the example specs read the file %s, which the DaemonSet's secrets directory lacks", f)
		}
	}
	if add := c.SecurityContext.Capabilities.Add; !slices.Contains(add, "NET_ADMIN") || !slices.Contains(add, "SYS_ADMIN") || len(add) != 2 {
		t.Errorf("the DaemonSet adds capabilities %v, want NET_ADMIN and SYS_ADMIN only", add)
	}
	// The central instance: one replica, never two at once, no host access.
	dep := m.deployments[0]
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("the central Deployment must run one replica with the Recreate strategy")
	}
	if dep.Spec.Template.Spec.HostNetwork || len(dep.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add) != 0 {
		t.Error("the central Deployment needs neither the host network nor capabilities")
	}
}

// mountedAt returns the name of the volume mounted at path.
func mountedAt(mounts []corev1.VolumeMount, path string) string {
	for _, m := range mounts {
		if m.MountPath == path {
			return m.Name
		}
	}
	return ""
}

func TestSystemdUnit(t *testing.T) {
	envs, _ := settings(t)
	unit, err := os.ReadFile("systemd/wirekeeper.service")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ExecStart": "/usr/local/bin/wirekeeper run", "EnvironmentFile": "/etc/wirekeeper/wirekeeper.env",
		"ProtectSystem": "strict", "NoNewPrivileges": "yes", "Restart": "always", "CacheDirectory": "wirekeeper",
		"CapabilityBoundingSet": "CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE",
	}
	got := map[string]string{}
	all := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			got[k] = v
			all[k] = append(all[k], v)
		}
	}
	// The secrets directory is the unit's credentials directory, holding a
	// credential for every file the example specs name.
	specEnvs, specFiles := exampleSecrets(t)
	if !slices.Contains(all["Environment"], "WIREKEEPER_SECRETS_DIR=%d") {
		t.Errorf("the unit does not set WIREKEEPER_SECRETS_DIR=%%d: %v", all["Environment"])
	}
	creds := map[string]bool{}
	for _, lc := range all["LoadCredential"] {
		id, path, _ := strings.Cut(lc, ":")
		creds[id] = true
		if !strings.HasPrefix(path, "/etc/wirekeeper/secrets/") {
			t.Errorf("LoadCredential=%s: the specs' files are kept in /etc/wirekeeper/secrets", lc)
		}
	}
	for f := range specFiles {
		if !creds[f] {
			t.Errorf("the example specs read the file %s, which no LoadCredential= provides", f)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	// The example settings are all real ones.
	env, err := os.ReadFile("systemd/wirekeeper.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(env), "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "# ")
		if k, _, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "WIREKEEPER_") && !envs[k] && !strings.HasPrefix(k, "WIREKEEPER_SECRET_") {
			t.Errorf("wirekeeper.env.example sets %s, which is not a setting", k)
		}
		delete(specEnvs, strings.SplitN(l, "=", 2)[0])
	}
	for e := range specEnvs {
		t.Errorf("the example specs read {env: %s}, which wirekeeper.env.example does not set", e)
	}
	// systemd's own check, with the paths it looks at made real.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("WIREKEEPER_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("systemd-analyze is missing (apt install systemd)")
		}
		t.Skip("systemd-analyze is missing")
	}
	dir := t.TempDir()
	bin := testenv.Binary(t)
	envFile := filepath.Join(dir, "wirekeeper.env")
	os.WriteFile(envFile, env, 0o600)
	local := strings.NewReplacer("/usr/local/bin/wirekeeper", bin, "/etc/wirekeeper/wirekeeper.env", envFile).Replace(string(unit))
	path := filepath.Join(dir, "wirekeeper.service")
	os.WriteFile(path, []byte(local), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Without a running systemd, verify still checks the unit; lines about
	// the units it names in After= and the missing bus are not ours.
	var problems []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && strings.Contains(l, "wirekeeper.service") {
			problems = append(problems, l)
		}
	}
	if len(problems) > 0 {
		t.Errorf("systemd-analyze verify (%v):\n%s", err, strings.Join(problems, "\n"))
	}
}
