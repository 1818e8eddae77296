package archive

import (
	"context"
	"fmt"
)

// finish takes part p from its state to verified, recording every step, so
// a rerun after a crash resumes where the last recorded step left off.
func (c *Compactor) finish(ctx context.Context, p *partState) error {
	d := p.Range.Day
	if p.State == stateWriting {
		if err := c.upload(ctx, p); err != nil {
			return fmt.Errorf("part %d: upload: %w", p.Part, err)
		}
		if err := c.hook(AfterUpload, d, p.Part); err != nil {
			return err
		}
		if err := c.advance(ctx, p, stateUploaded); err != nil {
			return err
		}
	}
	if p.State == stateUploaded {
		// Placed legal holds reach a new part here (legalhold.go, holdPart).
		if err := c.holdPart(ctx, p); err != nil {
			return fmt.Errorf("part %d: legal hold: %w", p.Part, err)
		}
		if err := c.publishManifest(ctx, p); err != nil {
			return fmt.Errorf("part %d: manifest: %w", p.Part, err)
		}
		if err := c.hook(AfterManifest, d, p.Part); err != nil {
			return err
		}
		if err := c.advance(ctx, p, stateManifested); err != nil {
			return err
		}
	}
	if p.State == stateManifested {
		if err := c.verify(ctx, p); err != nil {
			return fmt.Errorf("part %d: verify: %w", p.Part, err)
		}
		if err := c.advance(ctx, p, stateVerified); err != nil {
			return err
		}
		return c.hook(AfterVerify, d, p.Part)
	}
	return nil
}

func (c *Compactor) advance(ctx context.Context, p *partState, state string) error {
	p.State = state
	if err := record(ctx, c.pool, p); err != nil {
		return fmt.Errorf("part %d: record %s: %w", p.Part, state, err)
	}
	return nil
}
