package daemon

import (
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// handler decodes one call's request items from d, calls the provider, and encodes the call's full response
// signature into e (zero values where the call failed). It returns the provider's error.
type handler func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error

// handlers maps every call of calls.def but Hello (which the connection handles) to its handler.
var handlers = map[wire.Call]handler{
	wire.CallGetInfo: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		info, err := p.GetInfo()
		e.B([]byte(info.ManufacturerID))
		e.U(info.Flags)
		e.B([]byte(info.LibraryDescription))
		e.U(version(info.LibraryVersion))
		return err
	},
	wire.CallGetSlotList: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slots, err := p.GetSlotList(d.U() != 0)
		e.Us(u64s(slots))
		return err
	},
	wire.CallGetSlotInfo: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		info, err := p.GetSlotInfo(ck.SlotID(d.U()))
		e.B([]byte(info.SlotDescription))
		e.B([]byte(info.ManufacturerID))
		e.U(info.Flags)
		e.U(version(info.HardwareVersion))
		e.U(version(info.FirmwareVersion))
		return err
	},
	wire.CallGetTokenInfo: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		ti, err := p.GetTokenInfo(ck.SlotID(d.U()))
		e.B([]byte(ti.Label))
		e.B([]byte(ti.ManufacturerID))
		e.B([]byte(ti.Model))
		e.B([]byte(ti.SerialNumber))
		for _, v := range []uint64{ti.Flags, ti.MaxSessionCount, ti.SessionCount, ti.MaxRwSessionCount,
			ti.RwSessionCount, ti.MaxPinLen, ti.MinPinLen, ti.TotalPublicMemory, ti.FreePublicMemory,
			ti.TotalPrivateMemory, ti.FreePrivateMemory} {
			e.U(v)
		}
		e.U(version(ti.HardwareVersion))
		e.U(version(ti.FirmwareVersion))
		e.B([]byte(ti.UTCTime))
		return err
	},
	wire.CallGetMechanismList: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		ms, err := p.GetMechanismList(ck.SlotID(d.U()))
		e.Us(u64s(ms))
		return err
	},
	wire.CallGetMechanismInfo: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slot := ck.SlotID(d.U())
		mi, err := p.GetMechanismInfo(slot, ck.MechanismType(d.U()))
		e.U(mi.MinKeySize)
		e.U(mi.MaxKeySize)
		e.U(mi.Flags)
		return err
	},
	wire.CallWaitForSlotEvent: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slot, err := p.WaitForSlotEvent(d.U())
		e.U(uint64(slot))
		return err
	},
	wire.CallInitToken: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slot := ck.SlotID(d.U())
		pin := d.B()
		defer clear(pin)
		return p.InitToken(slot, pin, d.B())
	},
	wire.CallInitPIN: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		pin := d.P()
		defer clear(pin)
		return p.InitPIN(s, pin)
	},
	wire.CallSetPIN: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		oldPIN, newPIN := d.P(), d.P()
		defer clear(oldPIN)
		defer clear(newPIN)
		return p.SetPIN(s, oldPIN, newPIN)
	},
	wire.CallOpenSession: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slot := ck.SlotID(d.U())
		h, err := p.OpenSession(slot, d.U())
		e.U(uint64(h))
		return err
	},
	wire.CallCloseSession: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		return p.CloseSession(ck.SessionHandle(d.U()))
	},
	wire.CallCloseAllSessions: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		return p.CloseAllSessions(ck.SlotID(d.U()))
	},
	wire.CallGetSessionInfo: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		si, err := p.GetSessionInfo(ck.SessionHandle(d.U()))
		e.U(uint64(si.SlotID))
		e.U(uint64(si.State))
		e.U(si.Flags)
		e.U(si.DeviceError)
		return err
	},
	wire.CallLogin: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, u := ck.SessionHandle(d.U()), ck.UserType(d.U())
		pin := d.P()
		defer clear(pin)
		return p.Login(s, u, pin)
	},
	wire.CallLoginUser: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, u := ck.SessionHandle(d.U()), ck.UserType(d.U())
		pin := d.P()
		defer clear(pin)
		return p.LoginUser(s, u, pin, d.B())
	},
	wire.CallLogout: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		return p.Logout(ck.SessionHandle(d.U()))
	},
	wire.CallSessionCancel: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		return p.SessionCancel(s, d.U())
	},
	wire.CallCreateObject: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		h, err := p.CreateObject(s, d.A())
		e.U(uint64(h))
		return err
	},
	wire.CallCopyObject: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, o := ck.SessionHandle(d.U()), ck.ObjectHandle(d.U())
		h, err := p.CopyObject(s, o, d.A())
		e.U(uint64(h))
		return err
	},
	wire.CallDestroyObject: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, o := ck.SessionHandle(d.U()), ck.ObjectHandle(d.U())
		return p.DestroyObject(s, o)
	},
	wire.CallGetObjectSize: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, o := ck.SessionHandle(d.U()), ck.ObjectHandle(d.U())
		n, err := p.GetObjectSize(s, o)
		e.U(n)
		return err
	},
	wire.CallGetAttributeValue: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, o := ck.SessionHandle(d.U()), ck.ObjectHandle(d.U())
		res, err := p.GetAttributeValue(s, o, d.A())
		e.A(res)
		return err
	},
	wire.CallSetAttributeValue: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, o := ck.SessionHandle(d.U()), ck.ObjectHandle(d.U())
		return p.SetAttributeValue(s, o, d.A())
	},
	wire.CallFindObjectsInit: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		return p.FindObjectsInit(s, d.A())
	},
	wire.CallFindObjects: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		hs, err := p.FindObjects(s, d.U())
		e.Us(u64s(hs))
		return err
	},
	wire.CallFindObjectsFinal: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		return p.FindObjectsFinal(ck.SessionHandle(d.U()))
	},
	wire.CallOperationInit: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		m := d.M()
		return p.OperationInit(s, op, m, ck.ObjectHandle(d.U()))
	},
	wire.CallOperationSingle: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		in := d.B()
		out, n, err := p.OperationSingle(s, op, in, d.O())
		e.U(n)
		e.B(out)
		return err
	},
	wire.CallOperationUpdate: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		in := d.B()
		out, n, err := p.OperationUpdate(s, op, in, d.O())
		e.U(n)
		e.B(out)
		return err
	},
	wire.CallOperationFinal: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		out, n, err := p.OperationFinal(s, op, d.O())
		e.U(n)
		e.B(out)
		return err
	},
	// Fused calls (docs/protocol.md, "Fused calls"): what two calls would do, in one round trip. A failed Init
	// answers with its own error and the data call is not made.
	wire.CallOperationInitData: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		m := d.M()
		key, stage := ck.ObjectHandle(d.U()), d.U()
		in, o := d.B(), d.O()
		var out []byte
		var n uint64
		err := initThen(p, s, op, m, key, stage, func() (err error) {
			if stage == wire.StageSingle {
				out, n, err = p.OperationSingle(s, op, in, o)
			} else {
				out, n, err = p.OperationUpdate(s, op, in, o)
			}
			return err
		})
		e.U(n)
		e.B(out)
		return err
	},
	wire.CallVerifyInitVerify: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		m := d.M()
		key := ck.ObjectHandle(d.U())
		data, sig := d.B(), d.B()
		if op != ck.OpVerify {
			return ck.CKR_ARGUMENTS_BAD
		}
		return initThen(p, s, op, m, key, wire.StageSingle, func() error { return p.Verify(s, data, sig) })
	},
	wire.CallFeatures: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		e.U(wire.FeatureFused | wire.FeatureKeep | wire.FeatureAttrPeek)
		return nil
	},
	// One-way (wire.OneWay): the client delivered an operation's kept output itself; the operation ends here
	// as a cancel ends it. Nobody reads the result.
	wire.CallOperationEnd: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s, op := ck.SessionHandle(d.U()), ck.Operation(d.U())
		return p.OperationInit(s, op, nil, 0)
	},
	wire.CallFindObjectsFirst: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		tmpl, max := d.A(), d.U()
		hs, more, err := findFirst(p, s, tmpl, max)
		e.Us(u64s(hs))
		e.U(more)
		return err
	},
	wire.CallDigestKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		return p.DigestKey(s, ck.ObjectHandle(d.U()))
	},
	wire.CallVerify: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		data := d.B()
		return p.Verify(s, data, d.B())
	},
	wire.CallVerifyFinal: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		return p.VerifyFinal(s, d.B())
	},
	wire.CallGenerateKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		h, err := p.GenerateKey(s, m, d.A())
		e.U(uint64(h))
		return err
	},
	wire.CallGenerateKeyPair: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		pub := d.A()
		hpub, hpriv, err := p.GenerateKeyPair(s, m, pub, d.A())
		e.U(uint64(hpub))
		e.U(uint64(hpriv))
		return err
	},
	wire.CallWrapKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		wrapping, key := ck.ObjectHandle(d.U()), ck.ObjectHandle(d.U())
		out, n, err := p.WrapKey(s, m, wrapping, key, d.O())
		e.U(n)
		e.B(out)
		return err
	},
	wire.CallUnwrapKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		unwrapping := ck.ObjectHandle(d.U())
		wrapped := d.B()
		h, err := p.UnwrapKey(s, m, unwrapping, wrapped, d.A())
		e.U(uint64(h))
		return err
	},
	wire.CallDeriveKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		base := ck.ObjectHandle(d.U())
		h, err := p.DeriveKey(s, m, base, d.A())
		e.U(uint64(h))
		return err
	},
	wire.CallSeedRandom: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		return p.SeedRandom(s, d.B())
	},
	wire.CallGenerateRandom: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		out, err := p.GenerateRandom(s, d.U())
		e.B(out)
		return err
	},
	wire.CallEncapsulateKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		pub := ck.ObjectHandle(d.U())
		t := d.A()
		ct, n, h, err := p.EncapsulateKey(s, m, pub, t, d.O())
		e.U(n)
		e.B(ct)
		e.U(uint64(h))
		return err
	},
	wire.CallDecapsulateKey: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		priv := ck.ObjectHandle(d.U())
		t := d.A()
		h, err := p.DecapsulateKey(s, m, priv, t, d.B())
		e.U(uint64(h))
		return err
	},
	wire.CallVerifySignatureInit: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		m := d.M()
		key := ck.ObjectHandle(d.U())
		return p.VerifySignatureInit(s, m, key, d.B())
	},
	wire.CallVerifySignature: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		return p.VerifySignature(s, d.B())
	},
	wire.CallDeleteToken: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slot := ck.SlotID(d.U())
		pin := d.B()
		defer clear(pin)
		return p.DeleteToken(slot, pin)
	},
	wire.CallInitTokenPolicy: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		slot := ck.SlotID(d.U())
		pin := d.B()
		defer clear(pin)
		label := d.B()
		return p.InitTokenPolicy(slot, pin, label, ck.WrapPolicy(d.U()))
	},
	wire.CallGetSessionValidationFlags: func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {
		s := ck.SessionHandle(d.U())
		f, err := p.GetSessionValidationFlags(s, d.U())
		e.U(f)
		return err
	},
}

func version(v ck.Version) uint64 { return uint64(v.Major)<<8 | uint64(v.Minor) }

func u64s[T ~uint64](v []T) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = uint64(x)
	}
	return out
}

// initThen starts an operation and runs its first data call. A stage other than single or update is refused
// before anything starts.
func initThen(p ck.Provider, s ck.SessionHandle, op ck.Operation, m *ck.Mechanism, key ck.ObjectHandle, stage uint64, data func() error) error {
	if stage != wire.StageSingle && stage != wire.StageUpdate {
		return ck.CKR_ARGUMENTS_BAD
	}
	if m == nil {
		return ck.CKR_MECHANISM_INVALID // a NULL mechanism cancels an operation: never fused
	}
	if err := p.OperationInit(s, op, m, key); err != nil {
		return err
	}
	return data()
}

// findFirst starts a search and returns its first batch of at most max handles, ending the search when the
// batch holds all there is (more is then 0): the client answers C_FindObjects and C_FindObjectsFinal itself.
func findFirst(p ck.Provider, s ck.SessionHandle, tmpl []ck.Attribute, max uint64) (hs []ck.ObjectHandle, more uint64, err error) {
	if max == 0 {
		return nil, 0, ck.CKR_ARGUMENTS_BAD
	}
	if err := p.FindObjectsInit(s, tmpl); err != nil {
		return nil, 0, err
	}
	hs, err = p.FindObjects(s, max)
	if err != nil {
		p.FindObjectsFinal(s)
		return nil, 0, err
	}
	if uint64(len(hs)) < max {
		return hs, 0, p.FindObjectsFinal(s)
	}
	return hs, 1, nil
}
