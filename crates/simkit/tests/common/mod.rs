pub mod gp_card;
