"""Router: received referrals -> decisions -> minimised referrals on partner topics."""
