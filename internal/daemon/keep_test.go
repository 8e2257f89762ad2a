package daemon_test

import (
	"bytes"
	"crypto/aes"
	"crypto/sha256"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/wire"
	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestKeptOutput drives the calls behind libkeyward.so's kept output (docs/protocol.md, "Kept output") in raw
// frames: a length query and a short buffer with the peek flag carry the output while the operation keeps it;
// OperationEnd has no response, so written in front of another request it leaves exactly one response to read,
// and the operation it names has ended; a multi-part call and an output over ck.MaxPeek come without bytes.
func TestKeptOutput(t *testing.T) {
	sock, _ := serve(t)
	c := rawConn(t, sock)
	hello(t, c)
	id := uint32(1)
	frame := func(callID wire.Call, items func(e *wire.Encoder)) []byte {
		var e wire.Encoder
		items(&e)
		id++
		return wire.AppendRequest(nil, id, callID, e.Bytes())
	}
	read := func(what string, want ck.RV) *wire.Decoder {
		t.Helper()
		resp, _, err := wire.ReadResponse(c, nil)
		if err != nil || resp.ID != id || resp.RV != want {
			t.Fatalf("%s: %v, id %d (want %d), rv %v (want %v)", what, err, resp.ID, id, resp.RV, want)
		}
		return wire.NewDecoder(resp.Body)
	}
	call := func(what string, callID wire.Call, want ck.RV, items func(e *wire.Encoder)) *wire.Decoder {
		t.Helper()
		if _, err := c.Write(frame(callID, items)); err != nil {
			t.Fatal(err)
		}
		return read(what, want)
	}
	if f := call("Features", wire.CallFeatures, ck.CKR_OK, func(e *wire.Encoder) {}).U(); f&wire.FeatureKeep == 0 {
		t.Fatalf("Features 0x%x lacks FeatureKeep", f)
	}
	slots := call("GetSlotList", wire.CallGetSlotList, ck.CKR_OK, func(e *wire.Encoder) { e.U(1) }).Us()
	slot := slots[len(slots)-1]
	so, user := []byte("so-pin-0001"), []byte("user-pin-0001")
	call("InitToken", wire.CallInitToken, ck.CKR_OK, func(e *wire.Encoder) { e.U(slot); e.B(so); e.B(enginetest.Label("keep")) })
	s := call("OpenSession", wire.CallOpenSession, ck.CKR_OK, func(e *wire.Encoder) { e.U(slot); e.U(ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION) }).U()
	call("Login SO", wire.CallLogin, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.U(uint64(ck.CKU_SO)); e.P(so) })
	call("InitPIN", wire.CallInitPIN, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.P(user) })
	call("Logout", wire.CallLogout, ck.CKR_OK, func(e *wire.Encoder) { e.U(s) })
	call("Login", wire.CallLogin, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.U(uint64(ck.CKU_USER)); e.P(user) })

	data := []byte("abc")
	want := sha256.Sum256(data)
	single := func(kind ck.Operation, in []byte, out ck.Out) func(e *wire.Encoder) {
		return func(e *wire.Encoder) {
			e.U(s)
			e.U(uint64(kind))
			e.B(in)
			e.O(out)
		}
	}
	call("DigestInit", wire.CallOperationInit, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.U(uint64(ck.OpDigest))
		e.M(&ck.Mechanism{Type: ck.CKM_SHA256})
		e.U(0)
	})
	d := call("length query with peek", wire.CallOperationSingle, ck.CKR_OK, single(ck.OpDigest, data, ck.Out{Peek: true}))
	if n, b := d.U(), d.B(); n != 32 || !bytes.Equal(b, want[:]) {
		t.Fatalf("length query with peek: %d, %x; want 32, %x", n, b, want)
	}
	d = call("short buffer with peek", wire.CallOperationSingle, ck.CKR_BUFFER_TOO_SMALL, single(ck.OpDigest, data, ck.Out{Present: true, Cap: 8, Peek: true}))
	if n, b := d.U(), d.B(); n != 32 || !bytes.Equal(b, want[:]) {
		t.Fatalf("short buffer with peek: %d, %x; want 32, %x", n, b, want)
	}
	d = call("length query without peek", wire.CallOperationSingle, ck.CKR_OK, single(ck.OpDigest, data, ck.Out{}))
	if n, b := d.U(), d.B(); n != 32 || len(b) != 0 {
		t.Fatalf("length query without peek: %d, %d bytes; want 32, none", n, len(b))
	}
	// The operation is still active, with its output: OperationEnd ends it, and answers nothing.
	end := frame(wire.CallOperationEnd, func(e *wire.Encoder) { e.U(s); e.U(uint64(ck.OpDigest)) })
	next := frame(wire.CallOperationSingle, single(ck.OpDigest, data, ck.Out{Present: true, Cap: 32}))
	if _, err := c.Write(append(end, next...)); err != nil {
		t.Fatal(err)
	}
	read("the call after OperationEnd", ck.CKR_OPERATION_NOT_INITIALIZED)
	// An OperationEnd of an operation that is not active is as harmless as a cancel.
	end = frame(wire.CallOperationEnd, func(e *wire.Encoder) { e.U(s); e.U(uint64(ck.OpSign)) })
	next = frame(wire.CallGetSessionInfo, func(e *wire.Encoder) { e.U(s) })
	if _, err := c.Write(append(end, next...)); err != nil {
		t.Fatal(err)
	}
	read("GetSessionInfo after OperationEnd", ck.CKR_OK)

	// Multi-part: the peek flag is ignored (the client keeps only single-part output).
	call("DigestInit", wire.CallOperationInit, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.U(uint64(ck.OpDigest))
		e.M(&ck.Mechanism{Type: ck.CKM_SHA256})
		e.U(0)
	})
	call("DigestUpdate", wire.CallOperationUpdate, ck.CKR_OK, single(ck.OpDigest, data, ck.Out{}))
	d = call("DigestFinal length query with peek", wire.CallOperationFinal, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.U(uint64(ck.OpDigest))
		e.O(ck.Out{Peek: true})
	})
	if n, b := d.U(), d.B(); n != 32 || len(b) != 0 {
		t.Fatalf("final with peek: %d, %d bytes; want 32, none", n, len(b))
	}
	d = call("DigestFinal", wire.CallOperationFinal, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.U(uint64(ck.OpDigest))
		e.O(ck.Out{Present: true, Cap: 32})
	})
	if d.U(); !bytes.Equal(d.B(), want[:]) {
		t.Fatal("DigestFinal: wrong digest")
	}

	// An output over ck.MaxPeek comes with its length only.
	key := bytes.Repeat([]byte{7}, 16)
	k := call("CreateObject", wire.CallCreateObject, ck.CKR_OK, func(e *wire.Encoder) {
		e.U(s)
		e.A([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
			ck.NewAttribute(ck.CKA_TOKEN, false), ck.NewAttribute(ck.CKA_VALUE, key), ck.NewAttribute(ck.CKA_ENCRYPT, true)})
	}).U()
	for _, size := range []int{ck.MaxPeek, ck.MaxPeek + 16} {
		plain := pattern(size, 3)
		call("EncryptInit", wire.CallOperationInit, ck.CKR_OK, func(e *wire.Encoder) {
			e.U(s)
			e.U(uint64(ck.OpEncrypt))
			e.M(&ck.Mechanism{Type: ck.CKM_AES_ECB})
			e.U(k)
		})
		d = call("encrypt length query with peek", wire.CallOperationSingle, ck.CKR_OK, single(ck.OpEncrypt, plain, ck.Out{Peek: true}))
		n, b := d.U(), d.B()
		block, _ := aes.NewCipher(key)
		ct := make([]byte, size)
		for i := 0; i < size; i += 16 {
			block.Encrypt(ct[i:], plain[i:])
		}
		switch {
		case n != uint64(size):
			t.Fatalf("%d bytes: length %d", size, n)
		case size <= ck.MaxPeek && !bytes.Equal(b, ct):
			t.Fatalf("%d bytes: the peeked output is not the ciphertext", size)
		case size > ck.MaxPeek && len(b) != 0:
			t.Fatalf("%d bytes: %d bytes peeked, want none over ck.MaxPeek", size, len(b))
		}
		call("SessionCancel", wire.CallSessionCancel, ck.CKR_OK, func(e *wire.Encoder) { e.U(s); e.U(ck.CKF_ENCRYPT) })
	}
}

// TestAttributePeek checks attribute queries of kind ck.AttrPeek (FeatureAttrPeek): a value that may be read
// and is at most ck.MaxPeekAttribute bytes comes back as the value, a larger one as its length, a missing one as
// CK_UNAVAILABLE_INFORMATION with the rv a length query gets.
func TestAttributePeek(t *testing.T) {
	sock, _ := serve(t)
	cl, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	slots, err := cl.GetSlotList(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.InitToken(slots[0], []byte("so-pin-0001"), enginetest.Label("peek")); err != nil {
		t.Fatal(err)
	}
	s, err := cl.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	big := pattern(ck.MaxPeekAttribute+1, 9)
	o, err := cl.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, false),
		ck.NewAttribute(ck.CKA_LABEL, "peeked"), ck.NewAttribute(ck.CKA_VALUE, big)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.GetAttributeValue(s, o, []ck.Attribute{{Type: ck.CKA_LABEL, Kind: ck.AttrPeek}, {Type: ck.CKA_VALUE, Kind: ck.AttrPeek}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Kind != ck.AttrValue || string(res[0].Value) != "peeked" {
		t.Errorf("CKA_LABEL: %+v, want its value", res[0])
	}
	if res[1].Kind != ck.AttrLength || res[1].Len != uint64(len(big)) {
		t.Errorf("CKA_VALUE of %d bytes: kind %d len %d, want its length only", len(big), res[1].Kind, res[1].Len)
	}
	res, err = cl.GetAttributeValue(s, o, []ck.Attribute{{Type: ck.CKA_LABEL, Kind: ck.AttrPeek}, {Type: ck.CKA_MODULUS, Kind: ck.AttrPeek}})
	if ck.ToRV(err) != ck.CKR_ATTRIBUTE_TYPE_INVALID || len(res) != 2 || res[1].Len != ck.CK_UNAVAILABLE_INFORMATION || string(res[0].Value) != "peeked" {
		t.Errorf("with a missing attribute: %v %+v, want CKR_ATTRIBUTE_TYPE_INVALID, the label and CK_UNAVAILABLE_INFORMATION", err, res)
	}
}

// TestOutputFlagsUnknownBits checks that an output item with flag bits beyond present and peek is malformed
// (the connection closes), so a client never has a flag silently dropped.
func TestOutputFlagsUnknownBits(t *testing.T) {
	var e wire.Encoder
	e.O(ck.Out{Present: true, Cap: 5, Peek: true})
	b := e.Bytes()
	if got := wire.NewDecoder(b).O(); got != (ck.Out{Present: true, Cap: 5, Peek: true}) {
		t.Fatalf("round trip: %+v", got)
	}
	b[1] = 4
	d := wire.NewDecoder(b)
	d.O()
	if d.Finish() == nil {
		t.Fatal("flag bit 2 accepted")
	}
}
