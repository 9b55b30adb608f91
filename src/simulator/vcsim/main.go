// vcsim for the VCH box: govmomi's vCenter simulator (Debian's 0.24.2) with the model, TLS,
// credentials and datastore folder chosen by flags, plus the package extensions compiled in
// by build.ts (InstantClone_Task, vSphere's extraConfig semantics, retrieval paging, running
// tasks, TaskInProgress on busy VMs). When ready it prints one JSON line on stdout; it exits on SIGINT/SIGTERM and when
// stdin reaches EOF, so it never outlives the process that started it.

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type options struct {
	listen          string
	port            int
	tls             bool
	username        string
	password        string
	datacenters     int
	clusters        int
	clusterHosts    int
	standaloneHosts int
	vms             int
	datastores      int
	portgroups      int
	datastoreDir    string
	autostart       bool
	exitOnStdinEOF  bool
	quiet           bool
}

type datastoreInfo struct {
	Name       string `json:"name"`
	Datacenter string `json:"datacenter"`
	Path       string `json:"path"`
}

// ready is the one line printed on stdout; process.ts parses it.
type ready struct {
	URL              string          `json:"url"`
	Thumbprint       string          `json:"thumbprint,omitempty"`
	ThumbprintSha256 string          `json:"thumbprintSha256,omitempty"`
	Username         string          `json:"username"`
	Password         string          `json:"password"`
	Datastores       []datastoreInfo `json:"datastores"`
	VMs              int             `json:"vms"`
	Hosts            int             `json:"hosts"`
	StartupMs        int64           `json:"startupMs"`
}

func parseFlags() *options {
	o := &options{}
	flag.StringVar(&o.listen, "listen", "127.0.0.1", "address to listen on")
	flag.IntVar(&o.port, "port", 0, "port to listen on (0 picks a free one)")
	flag.BoolVar(&o.tls, "tls", true, "serve HTTPS with a fresh self-signed certificate")
	flag.StringVar(&o.username, "username", "", "enforced login user (empty: any non-empty user and password)")
	flag.StringVar(&o.password, "password", "", "enforced login password")
	flag.IntVar(&o.datacenters, "datacenters", 1, "datacenters")
	flag.IntVar(&o.clusters, "clusters", 1, "clusters per datacenter")
	flag.IntVar(&o.clusterHosts, "hosts-per-cluster", 3, "hosts per cluster")
	flag.IntVar(&o.standaloneHosts, "standalone-hosts", 1, "standalone hosts per datacenter")
	flag.IntVar(&o.vms, "vms", 4, "about this many VMs in all, spread over the clusters and standalone hosts")
	flag.IntVar(&o.datastores, "datastores", 1, "local datastores per datacenter")
	flag.IntVar(&o.portgroups, "portgroups", 1, "distributed port groups per datacenter")
	flag.StringVar(&o.datastoreDir, "datastore-dir", "", "directory holding the datastores' folders (kept on exit); empty: a temp dir removed on exit")
	flag.BoolVar(&o.autostart, "autostart", true, "power on the model's VMs")
	flag.BoolVar(&o.exitOnStdinEOF, "exit-on-stdin-eof", true, "exit when stdin reaches EOF")
	flag.BoolVar(&o.quiet, "quiet", false, "discard the simulator's own log lines (stderr)")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: %v\n", err)
		os.Exit(1)
	}
}

// advertiseInstantCloneRelease makes the simulator introduce itself as vCenter 6.7, the
// release whose API has InstantClone_Task (instant_clone.go adds it with 6.7's semantics).
// 0.24.2's model says 6.5, which would tell a client, rightly, that it cannot instant clone.
func advertiseInstantCloneRelease() {
	about := &vpx.ServiceContent.About
	about.Version = "6.7.0"
	about.Build = "8170161"
	about.FullName = "VMware vCenter Server 6.7.0 build-8170161 (govmomi simulator, VCH box)"
	about.ApiVersion = "6.7"
}

func run(o *options) error {
	start := time.Now()
	if o.quiet {
		log.SetOutput(ioutil.Discard)
	}
	if (o.username == "") != (o.password == "") {
		return fmt.Errorf("--username and --password go together")
	}

	advertiseInstantCloneRelease()
	m := simulator.VPX()
	m.Datacenter = o.datacenters
	m.Cluster = o.clusters
	m.ClusterHost = o.clusterHosts
	m.Host = o.standaloneHosts
	m.Datastore = o.datastores
	m.Portgroup = o.portgroups
	m.Autostart = o.autostart
	// The model puts Machine VMs in each cluster's root pool and on each standalone host.
	pools := o.datacenters * (o.clusters + o.standaloneHosts)
	if pools > 0 && o.vms > 0 {
		m.Machine = (o.vms + pools - 1) / pools
	} else {
		m.Machine = 0
	}
	if o.datastores < 1 && m.Machine > 0 {
		return fmt.Errorf("VMs need a datastore")
	}

	if o.datastoreDir == "" {
		// The datastores are temp dirs nobody else knows of: remove them however we leave.
		defer m.Remove()
	}
	if err := createModel(m, o.datastoreDir); err != nil {
		return err
	}
	simulator.InstallVCHExtensions()
	simulator.InstallTaskInProgress(m.Service)

	cert, err := selfSignedCert(o.listen)
	if err != nil {
		return err
	}
	listen := &url.URL{Host: net.JoinHostPort(o.listen, fmt.Sprint(o.port))}
	if o.username != "" {
		listen.User = url.UserPassword(o.username, o.password)
	}
	m.Service.Listen = listen
	if o.tls {
		m.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	server, err := newServer(m)
	if err != nil {
		return err
	}

	user := server.URL.User
	password, _ := user.Password()
	u := *server.URL
	u.User = nil
	r := ready{
		URL:        u.String(),
		Username:   user.Username(),
		Password:   password,
		Datastores: datastores(),
		StartupMs:  time.Since(start).Milliseconds(),
	}
	count := m.Count()
	r.VMs, r.Hosts = count.Machine, count.Host
	if o.tls {
		r.Thumbprint, r.ThumbprintSha256 = thumbprints(cert.Certificate[0])
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(line))

	waitForExit(o.exitOnStdinEOF)

	// Close waits for in-flight requests, and a WaitForUpdatesEx may wait a long time: bound it.
	done := make(chan struct{})
	go func() {
		server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return nil
}

// createModel builds the inventory. The model makes each datastore with ioutil.TempDir("", …),
// so pointing TMPDIR at the chosen directory for the duration puts the datastores there.
func createModel(m *simulator.Model, dir string) error {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		old, had := os.LookupEnv("TMPDIR")
		os.Setenv("TMPDIR", dir)
		defer func() {
			if had {
				os.Setenv("TMPDIR", old)
			} else {
				os.Unsetenv("TMPDIR")
			}
		}()
	}
	return m.Create()
}

// newServer turns the package's panic on a busy port into an error.
func newServer(m *simulator.Model) (s *simulator.Server, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return m.Service.NewServer(), nil
}

func datastores() []datastoreInfo {
	list := []datastoreInfo{}
	for _, obj := range simulator.Map.All("Datastore") {
		ds, ok := obj.(*simulator.Datastore)
		if !ok {
			continue
		}
		list = append(list, datastoreInfo{
			Name:       ds.Name,
			Datacenter: datacenterOf(ds.Parent),
			Path:       ds.Info.GetDatastoreInfo().Url,
		})
	}
	// The registry is a map: sort so the line is the same from run to run.
	sort.Slice(list, func(i, j int) bool {
		if list[i].Datacenter != list[j].Datacenter {
			return list[i].Datacenter < list[j].Datacenter
		}
		return list[i].Name < list[j].Name
	})
	return list
}

// datacenterOf walks up the inventory from ref to its Datacenter's name.
func datacenterOf(ref *types.ManagedObjectReference) string {
	for ref != nil {
		obj := simulator.Map.Get(*ref)
		if dc, ok := obj.(*simulator.Datacenter); ok {
			return dc.Name
		}
		e, ok := obj.(mo.Entity)
		if !ok {
			return ""
		}
		ref = e.Entity().Parent
	}
	return ""
}

// selfSignedCert makes a fresh certificate per run (the package's built-in one has a public
// key). ECDSA P-256: instant to generate; clients pin it by thumbprint as with vCenter.
func selfSignedCert(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim", Organization: []string{"VCH box"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if ip == nil && host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// thumbprints in vCenter's notation: colon-separated uppercase hex of SHA-1 and SHA-256 of the DER.
func thumbprints(der []byte) (string, string) {
	s1 := sha1.Sum(der)
	s256 := sha256.Sum256(der)
	return colonHex(s1[:]), colonHex(s256[:])
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

func waitForExit(watchStdin bool) {
	exit := make(chan struct{}, 2)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		exit <- struct{}{}
	}()
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			exit <- struct{}{}
		}()
	}
	<-exit
}
