package testgit

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdPath is where Debian's openssh-server installs sshd; sshd must be started by an
// absolute path (it re-executes itself for each connection).
const sshdPath = "/usr/sbin/sshd"

// SSHServer is a real sshd on 127.0.0.1 serving the remote's bare repository through
// git-shell (a forced command: no shell, no forwarding), with its own host key and
// authorized_keys. It runs as the current user, who is also the SSH user.
type SSHServer struct {
	// URL is ssh://<user>@127.0.0.1:<port>/<path of the bare repository>.
	URL  string
	User string
	Addr string // 127.0.0.1:<port>
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// ClientKey is a private key file (no passphrase) the server accepts.
	ClientKey string
	// KnownHosts is a known_hosts file listing the server's host key for Addr.
	KnownHosts string

	t              testing.TB
	dir            string
	sshd, config   string
	hostKeyFile    string
	authorizedKeys string
	clientPub      string
	log            string
	cmd            *exec.Cmd
	done           chan struct{}
}

// RequireSSHD returns the path of sshd (and checks ssh-keygen is there too). A
// missing one fails the test under CI (.ci/run installs openssh-server) and skips it
// elsewhere, naming the package to install.
func RequireSSHD(t testing.TB) string {
	t.Helper()
	_, statErr := os.Stat(sshdPath)
	_, keygenErr := exec.LookPath("ssh-keygen")
	if err := errors.Join(statErr, keygenErr); err != nil {
		needs.Missing(t, "no sshd or ssh-keygen (%v): apt-get install openssh-server", err)
	}
	return sshdPath
}

// ServeSSH starts sshd for the remote and waits until it answers with its SSH
// banner. sshd is stopped in t.Cleanup (registered before sshd starts, so a failing
// start stops it too), before its temporary directory is removed.
func (r *Remote) ServeSSH() *SSHServer {
	r.t.Helper()
	sshd := RequireSSHD(r.t)
	ensurePrivsepDir(r.t)
	me, err := user.Current()
	if err != nil {
		r.t.Fatalf("current user: %v", err)
	}
	dir := r.t.TempDir()
	port := freeLoopbackPort(r.t)
	s := &SSHServer{t: r.t, dir: dir, sshd: sshd, User: me.Username, Addr: fmt.Sprintf("127.0.0.1:%d", port),
		config: filepath.Join(dir, "sshd_config"), hostKeyFile: filepath.Join(dir, "host_ed25519"),
		authorizedKeys: filepath.Join(dir, "authorized_keys"), log: filepath.Join(dir, "sshd.log")}
	s.URL = fmt.Sprintf("ssh://%s@%s%s", s.User, s.Addr, filepath.ToSlash(r.Bare))
	s.newHostKey()
	s.ClientKey, s.clientPub = NewSSHKey(r.t, dir, "client_ed25519")
	s.Authorize(s.clientPub)
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(knownhosts.Line([]string{s.Addr}, s.HostKey)+"\n"), 0o644); err != nil {
		r.t.Fatalf("write known_hosts: %v", err)
	}
	if err := os.WriteFile(s.config, []byte(sshdConfig(port, s.hostKeyFile, s.authorizedKeys, s.User, gitShell(r.t))), 0o644); err != nil {
		r.t.Fatalf("write sshd_config: %v", err)
	}
	r.t.Cleanup(s.cleanup)
	s.start()
	return s
}

// RotateHostKey restarts sshd on the same address with a new host key (HostKey
// changes; the KnownHosts file keeps the old one, as a client's would).
func (s *SSHServer) RotateHostKey() {
	s.t.Helper()
	s.stop()
	for _, f := range []string{s.hostKeyFile, s.hostKeyFile + ".pub"} {
		if err := os.Remove(f); err != nil {
			s.t.Fatalf("remove old host key: %v", err)
		}
	}
	s.newHostKey()
	s.start()
}

// newHostKey generates the host key file and sets HostKey.
func (s *SSHServer) newHostKey() {
	s.t.Helper()
	_, pub := NewSSHKey(s.t, s.dir, filepath.Base(s.hostKeyFile))
	s.HostKey = parsePublicKey(s.t, pub)
}

// Authorize replaces the server's authorized_keys with the given public key lines;
// sshd reads the file on each connection. No lines revoke every key.
func (s *SSHServer) Authorize(pubKeys ...string) {
	s.t.Helper()
	if err := os.WriteFile(s.authorizedKeys, []byte(strings.Join(pubKeys, "")), 0o600); err != nil {
		s.t.Fatalf("write authorized_keys: %v", err)
	}
}

// AuthorizeClientKey authorizes ClientKey again (after Authorize revoked it).
func (s *SSHServer) AuthorizeClientKey() { s.t.Helper(); s.Authorize(s.clientPub) }

// NewSSHKey makes an ed25519 key pair without passphrase with ssh-keygen in dir and
// returns the private key file and the public key line.
func NewSSHKey(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	priv := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", name, err, out)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatalf("read %s.pub: %v", name, err)
	}
	return priv, string(pub)
}

// parsePublicKey parses one authorized_keys-format line.
func parsePublicKey(t testing.TB, line string) ssh.PublicKey {
	t.Helper()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("parse public key: %v", err)
	}
	return key
}

// sshdConfig is the server's configuration: loopback only, keys only, one user, no
// PAM, no pid file, and every session forced through git-shell.
func sshdConfig(port int, hostKey, authorizedKeys, user, gitShell string) string {
	lines := []string{
		fmt.Sprintf("ListenAddress 127.0.0.1:%d", port),
		"HostKey " + hostKey,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"UseDNS no",
		"LogLevel VERBOSE",
		"AuthorizedKeysFile " + authorizedKeys,
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + user,
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTTY no",
		`ForceCommand ` + gitShell + ` -c "$SSH_ORIGINAL_COMMAND"`,
	}
	return strings.Join(lines, "\n") + "\n"
}

// gitShell is the path of git-shell: on PATH, else in git's exec path.
func gitShell(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("git-shell"); err == nil {
		return p
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("find git-shell: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "git-shell")
}

// ensurePrivsepDir creates /run/sshd, the privilege-separation directory sshd
// requires when it runs as root (the package's service usually creates it).
func ensurePrivsepDir(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("create sshd privilege separation directory: %v", err)
	}
}

// freeLoopbackPort is a TCP port free on 127.0.0.1 now.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs sshd in the foreground, logging to a file in its directory, and waits
// until it serves. Newer sshd penalize addresses whose connections fail to
// authenticate; the tests fail some on purpose, so penalties are turned off where
// sshd knows the option.
func (s *SSHServer) start() {
	s.t.Helper()
	args := []string{"-f", s.config}
	if exec.Command(s.sshd, "-t", "-f", s.config, "-o", "PerSourcePenalties=no").Run() == nil {
		args = append(args, "-o", "PerSourcePenalties=no")
	}
	if out, err := exec.Command(s.sshd, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		s.t.Fatalf("sshd refuses its configuration: %v\n%s", err, out)
	}
	logFile, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("open sshd log: %v", err)
	}
	defer logFile.Close()
	cmd := exec.Command(s.sshd, append([]string{"-D", "-e"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group lets stop end the connection handlers with sshd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start sshd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.waitReady()
}

// waitReady waits until sshd sends its SSH banner on Addr, failing early if it exits.
func (s *SSHServer) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatal("sshd exited before serving (its log follows)")
		default:
		}
		if last = s.banner(); last == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("sshd did not answer on %s (its log follows): %v", s.Addr, last)
}

// banner dials Addr and reads the server's identification line.
func (s *SSHServer) banner() error {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if !bytes.HasPrefix(buf[:n], []byte("SSH-2.0-")) {
		return fmt.Errorf("no ssh banner: %q %v", buf[:n], err)
	}
	return nil
}

// stop ends sshd and its connection handlers: SIGTERM, then SIGKILL after 5s.
func (s *SSHServer) stop() {
	if s.cmd == nil {
		return
	}
	defer func() { s.cmd = nil }()
	select {
	case <-s.done: // exited already: its process group may be gone
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// cleanup stops sshd and, when the test failed, logs what sshd wrote (user names and
// public key fingerprints, no secrets).
func (s *SSHServer) cleanup() {
	s.stop()
	if s.t.Failed() {
		s.t.Logf("sshd log:\n%s", s.Log())
	}
}

// Log is what sshd wrote so far.
func (s *SSHServer) Log() string {
	data, err := os.ReadFile(s.log)
	if err != nil {
		return fmt.Sprintf("(no sshd log: %v)", err)
	}
	return string(data)
}
